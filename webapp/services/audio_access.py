"""Who may hear narration audio, and finding the assets of a lesson.

An asset is heard through the protected audio view only: admins, the course's
editors and learners enrolled in the published course may hear it; everyone
else gets ``NotFound``, so nobody learns which asset ids exist.
"""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Course, Lesson, User
from webapp.models.jobs import AudioAsset
from webapp.services import authoring, progress
from webapp.services.exceptions import NotFound

# The voice of audio imported from legacy public files (``imported:<name>``); such
# assets are not narration, so the lesson page's player ignores them.
IMPORTED_PREFIX = "imported:"


def may_listen(user: User | None, course: Course, *, enrolled: bool | None = None) -> bool:
    """Admins, the course's editors, and learners enrolled in the published course.

    ``enrolled`` saves a query when the caller already knows.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.role == "admin" or authoring.can_edit(user, course):
        return True
    if course.status != "published":
        return False
    if enrolled is None:
        enrolled = progress.get_enrollment(user, course.id) is not None
    return enrolled


def can_listen(user: User | None, asset: AudioAsset) -> bool:
    """Whether ``user`` may hear ``asset`` (see ``may_listen``)."""
    lesson = db.session.get(Lesson, asset.lesson_id)
    return lesson is not None and may_listen(user, lesson.course)


def get_asset_for(user: User | None, asset_id: int) -> AudioAsset:
    """The asset, if it exists and ``user`` may hear it; ``NotFound`` otherwise, either way
    (so nobody learns which ids exist)."""
    asset = db.session.get(AudioAsset, asset_id) if 0 < asset_id < 2**31 else None
    if asset is None or not can_listen(user, asset):
        raise NotFound("There is no such recording.")
    return asset


def latest_asset(lesson: Lesson, voice: str | None = None) -> AudioAsset | None:
    """The newest narration of the lesson's current version (in ``voice`` if given)."""
    stmt = (select(AudioAsset)
            .where(AudioAsset.lesson_id == lesson.id,
                   AudioAsset.lesson_version == lesson.version,
                   AudioAsset.voice.not_like(f"{IMPORTED_PREFIX}%"))
            .order_by(AudioAsset.id.desc()).limit(1))
    if voice is not None:
        stmt = stmt.where(AudioAsset.voice == voice)
    return db.session.scalar(stmt)


def find_asset(lesson_id: int, version: int, voice: str) -> AudioAsset | None:
    """The asset of one lesson version in one voice, if there is one."""
    return db.session.scalar(select(AudioAsset).where(
        AudioAsset.lesson_id == lesson_id, AudioAsset.lesson_version == version,
        AudioAsset.voice == voice))
