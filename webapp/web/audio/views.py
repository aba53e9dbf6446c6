"""The protected audio view: narration and imported audio, served by asset id.

Only signed-in users who may hear the asset get it (``audio.can_listen``);
everyone else gets the same 404 as for an id that does not exist, so nobody
learns which recordings exist. The file path comes from the database row,
checked by ``AudioStore.path_of``; nothing in the request becomes a path.

Seeking works through HTTP Range (werkzeug's ``send_file``: 206 for one byte
range, 416 with ``Content-Range: bytes */size`` for an unsatisfiable one;
other Range headers — several ranges, another unit, bad syntax — are ignored
and the whole file is sent, as RFC 9110 allows), with ETag (the content hash)
and Last-Modified for revalidation.

Behind nginx, ``TANGENT_AUDIO_OFFLOAD`` hands the sending to the proxy after
the checks: ``x-accel-redirect:/protected-audio/`` answers with an empty body
and ``X-Accel-Redirect: /protected-audio/<storage name>`` (an ``internal``
location aliased to the audio store), ``x-sendfile`` with ``X-Sendfile:
<absolute path>`` (Apache mod_xsendfile, lighttpd).
"""

from __future__ import annotations

import os

from flask import current_app, request
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.http import is_resource_modified, parse_range_header
from werkzeug.utils import send_file

from webapp.extensions import db
from webapp.models import Lesson
from webapp.models.jobs import AudioAsset
from webapp.services import audio
from webapp.settings import ConfigError, get_settings
from webapp.web.audio import bp

CACHE_CONTROL = "private, max-age=3600"
OFFLOAD_KEY = "TANGENT_AUDIO_OFFLOAD"


def parse_offload(value: str | None) -> tuple[str, str] | None:
    """``TANGENT_AUDIO_OFFLOAD``: None, ("x-sendfile", ""), or ("x-accel-redirect", prefix)."""
    value = (value or "").strip()
    if not value:
        return None
    if value.lower() == "x-sendfile":
        return "x-sendfile", ""
    kind, _, prefix = value.partition(":")
    if kind.lower() == "x-accel-redirect" and prefix.startswith("/") and ".." not in prefix:
        return "x-accel-redirect", prefix.rstrip("/") + "/"
    raise ConfigError(f"{OFFLOAD_KEY}: expected x-accel-redirect:/internal-prefix/ or "
                      f"x-sendfile, got {value!r}")


def _headers(response, asset: AudioAsset, filename: str):
    if response.status_code in (200, 206):
        # The type the row records, and a name made from the lesson slug ([a-z0-9-]).
        response.headers["Content-Type"] = asset.mime_type
        response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.pop("Expires", None)
    return response


def _range_environ(asset: AudioAsset, size: int) -> tuple[dict, bool]:
    """(the environ ``send_file`` should see, whether the range cannot be satisfied).

    Only one byte range is served as 206. Several ranges, another unit or bad
    syntax are ignored (werkzeug would answer 416; RFC 9110 lets a server send
    the whole file, and asks it to for an unknown unit), and so is a range
    whose If-Range validator is stale. An unsatisfiable range is found here,
    before ``send_file`` opens the file, so that no file is left open behind
    the 416.
    """
    environ = request.environ
    header = environ.get("HTTP_RANGE")
    if header is None:
        return environ, False
    parsed = parse_range_header(header)
    usable = parsed is not None and parsed.units == "bytes" and len(parsed.ranges) == 1
    if usable and "HTTP_IF_RANGE" in environ and is_resource_modified(
            environ, etag=asset.sha256, last_modified=asset.created_at, ignore_if_range=False):
        usable = False
    if not usable:
        return {key: value for key, value in environ.items() if key != "HTTP_RANGE"}, False
    start, end = parsed.ranges[0]
    if end is None and start < 0 and -start > size:
        # A suffix longer than the file means the whole file (RFC 9110 §14.1.2);
        # werkzeug would call it unsatisfiable.
        return {**environ, "HTTP_RANGE": "bytes=0-"}, False
    return environ, parsed.range_for_length(size) is None


def _unsatisfiable(size: int):
    response = current_app.response_class(b"", status=416)
    response.headers["Content-Range"] = f"bytes */{size}"
    return response


def _offloaded(asset: AudioAsset, path, mode: tuple[str, str]):
    response = current_app.response_class(b"", mimetype=asset.mime_type)
    response.set_etag(asset.sha256)
    response.last_modified = asset.created_at
    response.make_conditional(request.environ)
    if response.status_code == 200:
        kind, prefix = mode
        if kind == "x-sendfile":
            response.headers["X-Sendfile"] = str(path)
        else:
            response.headers["X-Accel-Redirect"] = prefix + asset.storage_name
    return response


@bp.get("/<int:asset_id>")
@login_required
def asset(asset_id: int):
    """The audio file of asset ``asset_id``, for those who may hear it; 404 otherwise."""
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    found = audio.get_asset_for(user, asset_id)
    path = audio.AudioStore.for_settings(get_settings(current_app)).path_of(found)
    lesson = db.session.get(Lesson, found.lesson_id)
    filename = f"{lesson.slug if lesson else 'audio'}.{audio.file_extension(found)}"

    mode = parse_offload(current_app.config.get(OFFLOAD_KEY))
    if mode is not None:
        return _headers(_offloaded(found, path, mode), found, filename)
    size = os.stat(path).st_size
    environ, unsatisfiable = _range_environ(found, size)
    if unsatisfiable:
        return _headers(_unsatisfiable(size), found, filename)
    try:
        response = send_file(
            str(path), environ, mimetype=found.mime_type, download_name=filename,
            conditional=True, etag=found.sha256, last_modified=found.created_at, max_age=None,
            response_class=current_app.response_class,
        )
    except RequestedRangeNotSatisfiable:  # pragma: no cover - ruled out by _range_environ
        response = _unsatisfiable(size)
    return _headers(response, found, filename)
