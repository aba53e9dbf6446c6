"""All models, imported here so Alembic and the app see one metadata."""

from webapp.models.audit import AuditEvent, SecurityEvent
from webapp.models.base import Base
from webapp.models.users import User

__all__ = ["AuditEvent", "Base", "SecurityEvent", "User"]
