"""A fake OpenAI-compatible Chat Completions server for tests, over real HTTP on 127.0.0.1.

The server listens on an ephemeral port in a background thread, answers each
request with the next scripted ``Reply`` (status, headers, body, delay) and
records what it received. ``fake_openai_server()`` always shuts it down, even
when a test fails or a client gave up waiting on a delayed reply::

    with fake_openai_server() as server:
        server.push(chat_reply({"markdown": "## Hi"}), error_reply(500, "boom"))
        server.always(error_reply(503, "down"))   # after the pushed replies run out
        provider = OpenAICompatibleProvider(base_url=server.url, model="m")
        ...
        assert server.requests[0].json()["model"] == "m"

A reply may also be a function of the ``ReceivedRequest``. A request with no
reply scripted gets a 400 whose message says so, which shows up in the
provider's error.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer. A dict or list body is sent as JSON."""

    status: int = 200
    body: bytes | str | dict | list = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, dict | list):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body, "application/octet-stream"


def chat_reply(content: str | dict | list, *, prompt_tokens: int = 12,
               completion_tokens: int = 34, cost: float | str | None = None,
               model: str = "fake-model", finish_reason: str = "stop",
               delay: float = 0.0, headers: Mapping[str, str] | None = None) -> Reply:
    """A successful chat completion whose message text is ``content`` (JSON-encoded
    unless it is already a string). ``cost`` adds OpenRouter's ``usage.cost``."""
    text = content if isinstance(content, str) else json.dumps(content)
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens,
                             "completion_tokens": completion_tokens,
                             "total_tokens": prompt_tokens + completion_tokens}
    if cost is not None:
        usage["cost"] = cost
    return Reply(body={
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": text}}],
        "usage": usage,
    }, headers=dict(headers or {}), delay=delay)


def error_reply(status: int, message: str, *, headers: Mapping[str, str] | None = None,
                delay: float = 0.0) -> Reply:
    """An error in OpenAI's shape: ``{"error": {"message": …}}``."""
    return Reply(status=status, body={"error": {"message": message, "type": "fake_error",
                                                "code": status}},
                 headers=dict(headers or {}), delay=delay)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


ReplySource = Reply | Callable[[ReceivedRequest], Reply]


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (their delays end when ``stopping`` is set).
    daemon_threads = False
    block_on_close = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.replies: deque[ReplySource] = deque()
        self.fallback: ReplySource | None = None
        self.received: list[ReceivedRequest] = []

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def next_reply(self, request: ReceivedRequest) -> Reply:
        with self.lock:
            self.received.append(request)
            number = len(self.received)
            source = self.replies.popleft() if self.replies else self.fallback
        if source is None:
            return error_reply(400, f"fake_openai: no reply scripted for request #{number} "
                                    f"({request.method} {request.path})")
        return source(request) if callable(source) else source


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = ReceivedRequest(
            method=self.command, path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        reply = self.server.next_reply(request)
        if reply.delay and self.server.stopping.wait(reply.delay):
            return  # shutting down: drop the connection
        body, content_type = reply.encoded()
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": content_type, **reply.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing left to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read ``requests``, not a log


class FakeOpenAI:
    """The running server: script replies, read what it received."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/v1"

    def push(self, *replies: ReplySource) -> FakeOpenAI:
        """Answer the next requests with these replies, in order."""
        with self._server.lock:
            self._server.replies.extend(replies)
        return self

    def always(self, reply: ReplySource) -> FakeOpenAI:
        """Answer every request with this once the pushed replies run out."""
        with self._server.lock:
            self._server.fallback = reply
        return self

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._server.lock:
            return list(self._server.received)


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """Start a fake server on 127.0.0.1 (ephemeral port); always stopped on exit."""
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="fake-openai", daemon=True)
    thread.start()
    try:
        yield FakeOpenAI(server)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
