"""Tangent: a server-rendered learning platform.

``create_app`` wires settings → extensions → blueprints → CLI → error handlers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from flask import Flask, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.models.base import MAX_ID
from webapp.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent

# htmx 2 configuration, given to the browser in a <meta> tag (no inline script).
HTMX_CONFIG = {
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    # Pages can hold private data; do not keep copies in localStorage.
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    # Error partials are swapped too (errors.py retargets them to #flash).
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True},
    ],
}


def create_app(config: Settings | Mapping[str, object] | None = None) -> Flask:
    """Build the app. ``config`` is a ``Settings`` or overrides for ``load_settings``."""
    settings = config if isinstance(config, Settings) else load_settings(overrides=config)
    app = Flask(
        __name__,
        instance_path=str(settings.instance_path),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.jinja_env.add_extension("jinja2.ext.do")
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.extensions["tangent.settings"] = settings
    _configure(app, settings)

    from webapp.logs import configure_logging

    configure_logging(app, settings.log_level, settings.log_format)
    if settings.env == "production" and not settings.base_url:
        # Links in mail would take the request's Host header, which the client chooses.
        app.logger.warning("TANGENT_BASE_URL is not set: links in mail (password resets) use "
                           "the address each request came to; set it to the site's address")
    if settings.sentry_dsn:
        _init_sentry(settings)
    _init_extensions(app, settings)

    from webapp.jobs import init_queue

    init_queue(app, settings)

    from webapp.security import install_security_headers

    install_security_headers(app, https=settings.https)
    _register_blueprints(app)

    from webapp.errors import register_error_handlers

    register_error_handlers(app)
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    return app


def _configure(app: Flask, settings: Settings) -> None:
    from webapp.database import engine_options

    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        MAX_FORM_MEMORY_SIZE=settings.max_content_length,
        SESSION_COOKIE_NAME="tangent_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.https,
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
        SEND_FILE_MAX_AGE_DEFAULT=timedelta(hours=1),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=settings.https,
        TANGENT_AUDIO_OFFLOAD=settings.audio_offload,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=settings.redis_url or "tangent-memory://",
        RATELIMIT_STRATEGY="sliding-window-counter",
        # One budget per client across all pages (RATELIMIT_DEFAULT would count per route).
        RATELIMIT_APPLICATION=settings.rate_limit,
        # Off: they would put Retry-After on every response; the 429 page sets its own.
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_KEY_PREFIX=settings.rate_limit_key_prefix,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        HTMX_CONFIG_JSON=json.dumps(HTMX_CONFIG, separators=(",", ":")),
        # flask-mailman; which backend a message goes through is chosen per send
        # (services/mail.py), so that the file backend needs no server settings.
        MAIL_BACKEND="smtp",
        MAIL_SERVER=settings.mail_host or "localhost",
        MAIL_PORT=settings.mail_port,
        MAIL_USE_TLS=settings.mail_security == "starttls",
        MAIL_USE_SSL=settings.mail_security == "tls",
        MAIL_USERNAME=settings.mail_user,
        MAIL_PASSWORD=settings.mail_password,
        MAIL_DEFAULT_SENDER=settings.mail_from,
        MAIL_TIMEOUT=settings.mail_timeout,
    )
    if settings.redis_url:
        try:
            import redis  # noqa: F401
        except ImportError:
            raise ConfigError(
                "REDIS_URL: set, but the redis client is not installed "
                "(pip install 'tangent[redis]')"
            ) from None
    if not settings.is_sqlite:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "DATABASE_URL: PostgreSQL needs psycopg (pip install 'tangent[postgres]')"
            ) from None


def _init_sentry(settings: Settings) -> None:
    try:
        import sentry_sdk
        from sentry_sdk.integrations.flask import FlaskIntegration
    except ImportError:
        raise ConfigError(
            "SENTRY_DSN: set, but sentry-sdk is not installed (pip install 'tangent[sentry]')"
        ) from None
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env,
        integrations=[FlaskIntegration()],
        traces_sample_rate=0.0,
        before_send=scrub_sentry_event,
    )


_PRIVATE_HEADERS = {"cookie", "authorization", "x-csrftoken", "x-csrf-token"}


def scrub_sentry_event(event: dict, _hint: dict) -> dict:
    """Strip what could identify or authenticate a person before an event leaves."""
    event.pop("user", None)
    req = event.get("request")
    if isinstance(req, dict):
        for key in ("cookies", "data", "query_string", "env"):
            req.pop(key, None)
        headers = req.get("headers")
        if isinstance(headers, dict):
            req["headers"] = {k: v for k, v in headers.items() if k.lower() not in _PRIVATE_HEADERS}
    return event


def _init_extensions(app: Flask, settings: Settings) -> None:
    from webapp import models  # noqa: F401  (register every table on the metadata)
    from webapp.database import MIGRATIONS_DIR, configure_engine, reset_begin_mode, set_read_only
    from webapp.extensions import csrf, db, login_manager, mail, migrate, new_limiter

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine, settings)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    mail.init_app(app)
    _memoize_csrf_token(app)
    limiter = new_limiter()
    limiter.init_app(app)
    app.extensions["tangent.limiter"] = limiter

    @limiter.request_filter
    def _exempt() -> bool:
        return request.endpoint in ("static", "main.healthz", "main.readyz")

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def _load_user(token: str):
        from flask import session

        from webapp.services.sessions import session_user

        # The cookie says who (id and session version) and which session (a random
        # token); the session is live only while its row exists (signing out deletes it).
        user_id, _, session_version = token.partition(":")
        session_token = session.get("sid")
        if not (user_id.isdigit() and session_version.isdigit() and session_token):
            return None
        if int(user_id) > MAX_ID or int(session_version) > MAX_ID:
            return None
        live = session_user(int(user_id), int(session_version), str(session_token))
        if live is None or not live.user.is_active:
            return None
        if live.stale():
            from flask import g

            g.tangent_seen_session = live.session_id
        return live.user

    @app.teardown_request
    def _record_session_seen(_exc) -> None:
        from flask import g

        from webapp.web.session_seen import record_seen

        session_id = g.pop("tangent_seen_session", None)
        if session_id is not None:
            record_seen(session_id, ip=request.remote_addr)

    @app.before_request
    def _begin_mode() -> None:
        from flask import g

        g.begin_token = set_read_only(request.method in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_request
    def _reset_begin_mode(_exc) -> None:
        from flask import g

        token = g.pop("begin_token", None)
        if token is not None:
            reset_begin_mode(token)

    @app.context_processor
    def _template_globals() -> dict:
        return {"htmx_config": app.config["HTMX_CONFIG_JSON"]}

    static_urls: dict[tuple[str, str], str] = {}

    def static_url(filename: str) -> str:
        """``url_for('static', …)`` with ``?v=`` and the first hex digits of the file's
        sha256 (``static_version``): the URL changes whenever the file does, so browsers
        and the proxy may keep it for a year. Worked out once per file (every page links
        the same stylesheets and scripts; building a URL costs more than looking it up)."""
        key = (request.script_root, filename)
        url = static_urls.get(key)
        if url is None:
            version = static_version(app, filename)
            values = {"v": version} if version else {}
            url = static_urls[key] = url_for("static", filename=filename, **values)
        return url

    app.jinja_env.globals["static_url"] = static_url

    @app.after_request
    def _cache_hashed_static(response):
        # A URL that names the file's current content never changes meaning: cacheable for
        # a year. Any other static URL (no or an old ``v``) keeps the default hour.
        if request.endpoint == "static" and response.status_code in (200, 206, 304):
            asked = request.args.get("v")
            filename = (request.view_args or {}).get("filename", "")
            if asked and asked == static_version(app, filename):
                response.headers["Cache-Control"] = STATIC_IMMUTABLE
                response.headers.pop("Expires", None)
        return response


# How many hex digits of a static file's sha256 go into its URL (48 bits: no collision
# between two versions of one file in practice).
STATIC_VERSION_LENGTH = 12
STATIC_IMMUTABLE = "public, max-age=31536000, immutable"
# Names looked up, kept per process (a client asking for many missing names must not
# grow the table without bound).
STATIC_VERSIONS_KEPT = 1024


def static_version(app: Flask, filename: str) -> str | None:
    """The first ``STATIC_VERSION_LENGTH`` hex digits of the sha256 of static file
    ``filename``, read once per file per process; None when there is no such file."""
    from hashlib import sha256

    from werkzeug.security import safe_join

    versions: dict[str, str | None] = app.extensions.setdefault("tangent.static_versions", {})
    if filename in versions:
        return versions[filename]
    path = safe_join(str(app.static_folder), filename) if filename else None
    version = None
    if path is not None and Path(path).is_file():
        digest = sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), b""):
                digest.update(chunk)
        version = digest.hexdigest()[:STATIC_VERSION_LENGTH]
    if len(versions) < STATIC_VERSIONS_KEPT:
        versions[filename] = version
    return version


def _memoize_csrf_token(app: Flask) -> None:
    """Templates call ``csrf_token()`` once per form (a lesson page has a dozen); the
    token is the same for the whole request, so it is worked out once and kept in ``g``."""
    from flask import g
    from flask_wtf.csrf import generate_csrf

    def csrf_token() -> str:
        token = g.get("tangent_csrf_token")
        if token is None:
            token = g.tangent_csrf_token = generate_csrf()
        return token

    app.jinja_env.globals["csrf_token"] = csrf_token


def _register_blueprints(app: Flask) -> None:
    """Every area is a package ``webapp.web.<area>`` whose ``__init__`` defines ``bp``."""
    from webapp.web import (
        account,
        admin,
        audio,
        auth,
        branches,
        catalog,
        channels,
        editor,
        events,
        flags,
        insight,
        jobs,
        learn,
        main,
        moderation,
        notifications,
        people,
        qa,
        quiz,
        site,
        transparency,
    )
    from webapp.web.course_cards import install_card_cache
    from webapp.web.edge import install_edge_checks
    from webapp.web.question_text import install_question_filters
    from webapp.web.times import install_time_filters

    install_edge_checks(app)
    install_card_cache(app)
    install_question_filters(app)
    install_time_filters(app)
    for area in (main, auth, account, catalog, learn, quiz, editor, jobs, audio, branches,
                 admin, site, qa, channels, events, notifications, flags, moderation,
                 transparency, people, insight):
        app.register_blueprint(area.bp)
