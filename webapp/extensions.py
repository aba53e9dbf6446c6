"""Flask extensions, created unbound here and bound to the app in ``create_app``."""

import time

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_mailman import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from limits.storage import MemoryStorage
from werkzeug.local import LocalProxy

from webapp.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
login_manager = LoginManager()
mail = Mail()

# How often the in-process rate-limit storage drops expired counters.
SWEEP_SECONDS = 10.0


class LocalLimitStorage(MemoryStorage):
    """limits' in-process storage (``tangent-memory://``) without its expiry thread.

    ``MemoryStorage`` starts a ``threading.Timer`` 10 ms after almost every counted
    request to drop expired counters, so a busy process starts a thread many times a
    second. Counters are checked for expiry whenever they are read anyway; here the
    sweep of the others runs inline, at most every ``SWEEP_SECONDS``, on a counted
    request. (Overrides limits' private hook: a test fails if a request starts a
    thread again.) Multi-process deployments use Redis instead.
    """

    STORAGE_SCHEME = ["tangent-memory"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()
        self._next_sweep = time.monotonic() + SWEEP_SECONDS

    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


def new_limiter() -> Limiter:
    """A Limiter for one app: flask-limiter keeps storage, limits and key prefix on the
    object itself, so two apps in one process (tests, scripts) must not share one."""
    return Limiter(key_func=get_remote_address)


# The current app's Limiter (made in create_app), for code that runs in a request.
limiter: Limiter = LocalProxy(lambda: current_app.extensions["tangent.limiter"])  # type: ignore[assignment]
