"""One typed, validated settings object, read from the environment and the instance folder.

Every setting is validated when the app starts. A wrong value raises
``ConfigError`` whose message is one line naming the variable and what is
expected, and the command line prints exactly that line and stops.
"""

from __future__ import annotations

import os
import secrets
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENVIRONMENTS = ("development", "production", "testing")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


def _default_instance_path() -> Path:
    return Path.cwd() / "instance"


@dataclass(frozen=True)
class Settings:
    """Everything Tangent can be configured with (see README, "Configuration")."""

    env: str = "development"
    instance_path: Path = field(default_factory=_default_instance_path)
    secret_key: str = ""
    database_url: str = ""
    redis_url: str | None = None
    https: bool = False
    trusted_proxies: int = 0
    max_content_length: int = 4 * 1024 * 1024
    rate_limit: str = "200 per minute"
    db_pool_size: int = 5
    db_pool_timeout: int = 30
    db_pool_pre_ping: bool = True
    sqlite_busy_timeout_ms: int = 10_000
    log_level: str = "INFO"
    log_format: str = "json"
    sentry_dsn: str | None = None
    rate_limit_key_prefix: str = "tangent"
    # --- background jobs and AI / TTS providers (README, "AI drafting and narration") ---
    job_workers: int = 2
    job_stale_seconds: int = 120
    ai_provider: str = "scaffold"
    ai_base_url: str = "https://api.openai.com/v1"
    ai_api_key: str | None = None
    ai_model: str = "gpt-4o-mini"
    ai_timeout: int = 60
    ai_max_retries: int = 3
    # Prices per million tokens, used when the provider does not report the cost.
    ai_price_input: Decimal = Decimal(0)
    ai_price_output: Decimal = Decimal(0)
    tts_provider: str = "auto"
    tts_base_url: str = "https://api.openai.com/v1"
    tts_api_key: str | None = None
    tts_model: str = "gpt-4o-mini-tts"
    tts_voice: str = ""
    # Price per million characters of text sent to the speech provider.
    tts_price: Decimal = Decimal(0)
    # The currency the providers bill in (costs are shown and exported in it).
    cost_currency: str = "USD"
    ai_requests_per_minute: int = 3
    ai_daily_requests: int = 20
    # Monthly spend caps in the providers' currency; 0 means no cap.
    ai_monthly_budget: Decimal = Decimal(0)
    ai_course_monthly_budget: Decimal = Decimal(0)
    # "x-accel-redirect:/internal-prefix/" (nginx) or "x-sendfile": the proxy sends audio.
    audio_offload: str | None = None
    # IANA time zone that times are shown in to anonymous viewers and to users who have
    # not chosen one in their account settings.
    time_zone: str = "UTC"
    # --- mail and accounts (README, "Accounts, email and password recovery") ---
    # The site's address as people reach it, for links in mail ("https://learn.example.org");
    # None: the address of the request, or http://127.0.0.1:5000 outside a request.
    base_url: str | None = None
    # "smtp" sends through mail_host; "file" writes each message into instance/mail/.
    # None: smtp when mail_host is set, else file.
    mail_backend: str | None = None
    mail_host: str | None = None
    mail_port: int = 587
    # "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a local relay).
    mail_security: str = "starttls"
    mail_user: str | None = None
    mail_password: str | None = None
    mail_from: str = "Tangent <tangent@localhost>"
    mail_timeout: int = 20
    # "required": learners confirm their address before enrolling (and posting).
    email_verification: str = "off"

    @property
    def mail_transport(self) -> str:
        """The backend mail actually goes through: smtp or file."""
        return self.mail_backend or ("smtp" if self.mail_host else "file")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def testing(self) -> bool:
        return self.env == "testing"


# variable name -> (field name, parser)
def _parse_decimal(name: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw.strip())
    except InvalidOperation:
        raise ConfigError(f"{name}: expected a decimal number like 0.15, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name}: expected a number >= 0, got {raw!r}")
    return value


def _parse_http_url(name: str, raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: expected an http(s) URL like https://api.openai.com/v1, "
                          f"got {raw!r}")
    return raw.strip().rstrip("/")


def _parse_text(name: str, raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > 200:
        raise ConfigError(f"{name}: expected a non-empty value of at most 200 characters")
    return value


def _parse_offload(name: str, raw: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    kind, _, prefix = value.partition(":")
    if value.lower() == "x-sendfile" or (
        kind.lower() == "x-accel-redirect" and prefix.startswith("/") and ".." not in prefix
    ):
        return value
    raise ConfigError(f"{name}: expected x-accel-redirect:/internal-prefix/ or x-sendfile, "
                      f"got {raw!r}")


def _parse_currency(name: str, raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ConfigError(f"{name}: expected a three-letter currency code such as USD or EUR, "
                          f"got {raw!r}")
    return code


# The longest IANA name is 32 characters; anything much longer is not a time zone.
TIME_ZONE_MAX = 64


@cache
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name this machine knows (the system's database, else the
    ``tzdata`` package), plus "UTC"."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone name, exactly as spelled there."""
    return len(name) <= TIME_ZONE_MAX and name in time_zone_names()


def _parse_time_zone(name: str, raw: str) -> str:
    value = raw.strip()
    if not is_time_zone(value):
        raise ConfigError(f"{name}: expected an IANA time zone name such as UTC, "
                          f"Europe/Paris or America/New_York, got {raw[:TIME_ZONE_MAX]!r}")
    return value


def _parse_base_url(name: str, raw: str) -> str | None:
    if not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment:
        raise ConfigError(f"{name}: expected the site's address like https://learn.example.org, "
                          f"got {raw!r}")
    return raw.strip().rstrip("/")


def _parse_mail_from(name: str, raw: str) -> str:
    from email.utils import parseaddr

    value = raw.strip()
    address = parseaddr(value)[1]
    if not value or len(value) > 200 or "@" not in address or "\n" in value or "\r" in value:
        raise ConfigError(f"{name}: expected an address like 'Tangent <noreply@example.org>', "
                          f"got {raw!r}")
    return value


def _parse_int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: expected a number >= {minimum}, got {value}")
    return value


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _parse_database_url(name: str, raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if not scheme:
        raise ConfigError(
            f"{name}: expected a URL like sqlite:///path or postgresql://..., got {raw!r}"
        )
    if scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        url = "postgresql+psycopg" + raw[len(scheme):]
    elif scheme in ("sqlite", "sqlite+pysqlite"):
        url = raw
    else:
        raise ConfigError(f"{name}: unsupported scheme {scheme!r} (use sqlite or postgresql)")
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        # Not echoed back: the URL may hold a password.
        raise ConfigError(
            f"{name}: malformed URL (expected postgresql://user[:password]@host[:port]/database"
            " or sqlite:///path)"
        ) from None
    return url


def _parse_redis_url(name: str, raw: str) -> str | None:
    if not raw:
        return None
    scheme = urlsplit(raw).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name}: unsupported scheme {scheme!r} (use redis:// or rediss://)")
    return raw


def _parse_rate_limit(name: str, raw: str) -> str:
    from limits import parse_many

    try:
        limits = parse_many(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a limit like '200 per minute', got {raw!r}") from None
    if any(limit.amount < 1 for limit in limits):
        raise ConfigError(f"{name}: a limit of 0 would refuse every request, got {raw!r}")
    return raw


def _parse_choice(choices: tuple[str, ...]):
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _parse_log_level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"{name}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got {raw!r}")
    return value


def _parse_dsn(name: str, raw: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname:
        raise ConfigError(f"{name}: expected a Sentry DSN like https://key@host/project")
    return raw


ENV_VARS: dict[str, tuple[str, object]] = {
    "TANGENT_ENV": ("env", _parse_choice(ENVIRONMENTS)),
    "SECRET_KEY": ("secret_key", lambda name, raw: raw),
    "DATABASE_URL": ("database_url", _parse_database_url),
    "REDIS_URL": ("redis_url", _parse_redis_url),
    "TANGENT_HTTPS": ("https", _parse_bool),
    "TANGENT_TRUSTED_PROXIES": ("trusted_proxies", _parse_int),
    "MAX_CONTENT_LENGTH": ("max_content_length", lambda n, r: _parse_int(n, r, 1024)),
    "TANGENT_RATE_LIMIT": ("rate_limit", _parse_rate_limit),
    "DB_POOL_SIZE": ("db_pool_size", lambda n, r: _parse_int(n, r, 1)),
    "DB_POOL_TIMEOUT": ("db_pool_timeout", lambda n, r: _parse_int(n, r, 1)),
    "DB_POOL_PRE_PING": ("db_pool_pre_ping", _parse_bool),
    "SQLITE_BUSY_TIMEOUT_MS": ("sqlite_busy_timeout_ms", lambda n, r: _parse_int(n, r, 5000)),
    "LOG_LEVEL": ("log_level", _parse_log_level),
    "LOG_FORMAT": ("log_format", _parse_choice(("json", "text"))),
    "SENTRY_DSN": ("sentry_dsn", _parse_dsn),
    "TANGENT_JOB_WORKERS": ("job_workers", lambda n, r: _parse_int(n, r, 1)),
    "TANGENT_JOB_STALE_SECONDS": ("job_stale_seconds", lambda n, r: _parse_int(n, r, 10)),
    "TANGENT_AI_PROVIDER": ("ai_provider", _parse_choice(("scaffold", "openai"))),
    "TANGENT_AI_BASE_URL": ("ai_base_url", _parse_http_url),
    "TANGENT_AI_API_KEY": ("ai_api_key", lambda name, raw: raw.strip() or None),
    "TANGENT_AI_MODEL": ("ai_model", _parse_text),
    "TANGENT_AI_TIMEOUT": ("ai_timeout", lambda n, r: _parse_int(n, r, 1)),
    "TANGENT_AI_MAX_RETRIES": ("ai_max_retries", _parse_int),
    "TANGENT_AI_PRICE_INPUT": ("ai_price_input", _parse_decimal),
    "TANGENT_AI_PRICE_OUTPUT": ("ai_price_output", _parse_decimal),
    "TANGENT_TTS_PROVIDER": ("tts_provider", _parse_choice(("auto", "espeak", "openai", "none"))),
    "TANGENT_TTS_BASE_URL": ("tts_base_url", _parse_http_url),
    "TANGENT_TTS_API_KEY": ("tts_api_key", lambda name, raw: raw.strip() or None),
    "TANGENT_TTS_MODEL": ("tts_model", _parse_text),
    "TANGENT_TTS_VOICE": ("tts_voice", lambda name, raw: raw.strip()[:80]),
    "TANGENT_TTS_PRICE": ("tts_price", _parse_decimal),
    "TANGENT_AI_REQUESTS_PER_MINUTE": ("ai_requests_per_minute", lambda n, r: _parse_int(n, r, 1)),
    "TANGENT_AI_DAILY_REQUESTS": ("ai_daily_requests", lambda n, r: _parse_int(n, r, 1)),
    "TANGENT_AI_MONTHLY_BUDGET": ("ai_monthly_budget", _parse_decimal),
    "TANGENT_AI_COURSE_MONTHLY_BUDGET": ("ai_course_monthly_budget", _parse_decimal),
    "TANGENT_AUDIO_OFFLOAD": ("audio_offload", _parse_offload),
    "TANGENT_COST_CURRENCY": ("cost_currency", _parse_currency),
    "TANGENT_TIME_ZONE": ("time_zone", _parse_time_zone),
    "TANGENT_BASE_URL": ("base_url", _parse_base_url),
    "TANGENT_MAIL_BACKEND": ("mail_backend", _parse_choice(("smtp", "file"))),
    "TANGENT_MAIL_HOST": ("mail_host", lambda name, raw: raw.strip() or None),
    "TANGENT_MAIL_PORT": ("mail_port", lambda n, r: _parse_int(n, r, 1)),
    "TANGENT_MAIL_SECURITY": ("mail_security", _parse_choice(("starttls", "tls", "none"))),
    "TANGENT_MAIL_USER": ("mail_user", lambda name, raw: raw.strip() or None),
    "TANGENT_MAIL_PASSWORD": ("mail_password", lambda name, raw: raw or None),
    "TANGENT_MAIL_FROM": ("mail_from", _parse_mail_from),
    "TANGENT_MAIL_TIMEOUT": ("mail_timeout", lambda n, r: _parse_int(n, r, 1)),
    "TANGENT_EMAIL_VERIFICATION": ("email_verification", _parse_choice(("off", "required"))),
}

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_KEY_LENGTH = 32


def _load_or_create_secret(instance_path: Path) -> str:
    """Development only: keep one random key in the instance folder across restarts."""
    path = instance_path / SECRET_KEY_FILE
    try:
        if path.exists():
            key = path.read_text().strip()
            if not key:
                raise ConfigError(f"SECRET_KEY: {path} is empty (delete it to generate a new key)")
            return key
        instance_path.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    except OSError as exc:
        raise ConfigError(
            f"SECRET_KEY: not set, and {path} cannot be used ({exc.strerror or exc})"
        ) from None
    return key


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, object] | None = None
) -> Settings:
    """Build the settings from ``environ`` (default ``os.environ``) plus explicit overrides.

    Overrides use field names (``database_url``) and win over the environment;
    tests and ``create_app(config)`` use them.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    unknown = set(overrides) - {f.name for f in fields(Settings)}
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")

    values: dict[str, object] = {}
    raw_instance = environ.get("TANGENT_INSTANCE_PATH")
    if raw_instance is not None:
        if not raw_instance.strip():
            raise ConfigError("TANGENT_INSTANCE_PATH: expected a folder path, got an empty value")
        values["instance_path"] = Path(raw_instance).expanduser().resolve()
        if values["instance_path"].exists() and not values["instance_path"].is_dir():
            raise ConfigError(f"TANGENT_INSTANCE_PATH: {raw_instance!r} is not a folder")
    for var, (name, parse) in ENV_VARS.items():
        raw = environ.get(var)
        if raw is not None:
            values[name] = parse(var, raw)  # type: ignore[operator]
    values.update(overrides)

    settings = Settings(**values)  # type: ignore[arg-type]
    instance_path = Path(settings.instance_path)
    if "log_format" not in values:
        settings = replace(settings, log_format="text" if settings.env != "production" else "json")
    if not settings.database_url:
        settings = replace(settings, database_url=f"sqlite:///{instance_path / 'tangent.db'}")
    elif "database_url" in overrides:
        settings = replace(
            settings, database_url=_parse_database_url("DATABASE_URL", settings.database_url)
        )

    if not settings.secret_key:
        if settings.env == "production":
            raise ConfigError(
                "SECRET_KEY: required when TANGENT_ENV=production "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        settings = replace(settings, secret_key=_load_or_create_secret(instance_path))
    elif settings.env == "production" and len(settings.secret_key) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"SECRET_KEY: expected at least {MIN_SECRET_KEY_LENGTH} characters in production"
        )
    if settings.mail_transport == "smtp" and not settings.mail_host:
        raise ConfigError("TANGENT_MAIL_HOST: required when TANGENT_MAIL_BACKEND=smtp")
    return replace(settings, instance_path=instance_path)


def get_settings(app) -> Settings:
    """The validated settings of a Flask app made by ``create_app``."""
    return app.extensions["tangent.settings"]
