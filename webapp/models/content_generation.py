"""A tag that changes whenever course content changes, so caches know when to let go.

What every reader of a lesson or a syllabus sees is the same for all of them and
is cached per process (``webapp.services.reading``). One row holds a random tag;
every write to a content table — through the unit of work or a bulk
``update``/``delete``/``insert`` statement run by a session — gives it a new
random value in the same transaction. A cache entry is valid only under the tag
it was built under, so one primary-key read per request tells every process
whether its cache still holds. Random rather than counted, so a database that
was emptied and refilled (tests, restores) can never repeat an old tag.

The listeners are installed when ``webapp.models`` is imported, so the web app,
the job worker and every CLI command bump the tag alike.
"""

from __future__ import annotations

import secrets
from itertools import chain

from sqlalchemy import Integer, String, event, insert, update
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from webapp.models import courses, jobs, quizzes, site
from webapp.models.base import Base

ROW_ID = 1
# Where a session keeps the tag it read, for the rest of its transaction.
TAG_KEY = "tangent.content_tag"


class ContentGeneration(Base):
    __tablename__ = "content_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(32))


# Site settings too: every page shows them (webapp.services.site caches them per process
# and checks this tag to learn that another process changed them).
CONTENT_MODELS = (
    courses.Course, courses.CoursePrerequisite, courses.CourseTag, courses.Tag, courses.Module,
    courses.Lesson, courses.Section, quizzes.Quiz, quizzes.Question, quizzes.Choice,
    quizzes.AcceptedAnswer, jobs.AudioAsset, site.SiteSetting,
)
CONTENT_TABLES = frozenset(model.__table__.name for model in CONTENT_MODELS)
_TABLE = ContentGeneration.__table__


def new_tag() -> str:
    return secrets.token_hex(16)


def bump(session: Session) -> None:
    """Give the tag a new value in the session's transaction (making the row if needed)."""
    connection = session.connection()
    session.info.pop(TAG_KEY, None)
    tag = new_tag()
    changed = connection.execute(update(_TABLE).where(_TABLE.c.id == ROW_ID).values(tag=tag))
    if not changed.rowcount:
        connection.execute(insert(_TABLE).values(id=ROW_ID, tag=tag))


@event.listens_for(Session, "before_flush")
def _bump_on_flush(session: Session, _context, _instances) -> None:
    if any(isinstance(obj, CONTENT_MODELS)
           for obj in chain(session.new, session.dirty, session.deleted)):
        bump(session)


@event.listens_for(Session, "do_orm_execute")
def _bump_on_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in CONTENT_TABLES:
            bump(state.session)


@event.listens_for(Session, "after_transaction_end")
def _forget_tag(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(TAG_KEY, None)
