"""The deployment examples in deploy/ agree with the code they configure."""

from __future__ import annotations

import re
from pathlib import Path

from webapp import STATIC_IMMUTABLE
from webapp.settings import ENV_VARS, load_settings
from webapp.web.audio.views import parse_offload

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def env_file() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_env_example_lists_every_setting_and_is_valid():
    text = (DEPLOY / "env.example").read_text()
    listed = set(re.findall(r"^#?([A-Z_]+)=", text, re.MULTILINE))
    assert listed == set(ENV_VARS) | {"TANGENT_INSTANCE_PATH"}
    # The uncommented values load as they stand (placeholders included), as production.
    settings = load_settings(env_file())
    assert settings.env == "production" and settings.https and settings.trusted_proxies == 1
    assert settings.redis_url and not settings.is_sqlite


def test_nginx_serves_what_the_app_links_and_offloads():
    nginx = (DEPLOY / "nginx.conf").read_text()
    kind, prefix = parse_offload(env_file()["TANGENT_AUDIO_OFFLOAD"])
    assert kind == "x-accel-redirect"
    location = re.search(r"location " + re.escape(prefix) + r" \{(.*?)\}", nginx, re.S)
    assert location and "internal;" in location.group(1)
    assert "alias /var/lib/tangent/audio/;" in location.group(1)  # the instance's audio store
    assert f'default "{STATIC_IMMUTABLE}";' in nginx  # hashed static URLs (?v=)
    assert "proxy_pass http://tangent;" in nginx and "server 127.0.0.1:8000;" in nginx


def test_units_read_the_env_file_and_run_the_documented_commands():
    web = (DEPLOY / "tangent-web.service").read_text()
    worker = (DEPLOY / "tangent-worker@.service").read_text()
    for unit in (web, worker):
        assert "EnvironmentFile=/etc/tangent/env" in unit
        assert "Restart=always" in unit
    assert re.search(r"ExecStart=\S+/tangent serve .*--port 8000 .*--no-job-worker", web)
    assert "ExecReload=/bin/kill -HUP $MAINPID" in web
    assert re.search(r"ExecStart=\S+/tangent worker", worker)
