"""Flask extensions, created unbound here and bound to the app in ``create_app``."""

from flask import current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from werkzeug.local import LocalProxy

from webapp.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
csrf = CSRFProtect()
login_manager = LoginManager()


def new_limiter() -> Limiter:
    """A Limiter for one app: flask-limiter keeps storage, limits and key prefix on the
    object itself, so two apps in one process (tests, scripts) must not share one."""
    return Limiter(key_func=get_remote_address)


# The current app's Limiter (made in create_app), for code that runs in a request.
limiter: Limiter = LocalProxy(lambda: current_app.extensions["tangent.limiter"])  # type: ignore[assignment]
