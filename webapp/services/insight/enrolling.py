"""Enrolling lists of people in a course (pasted addresses or a CSV file) and unenrolling
one learner — by the course's editors and admins, audited, in the caller's transaction.

No account is ever created here: an address without an account is reported back ("no
account — ask them to register"), so that only people who signed up themselves learn.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Attempt, Certificate, Course, Enrollment, Quiz, SectionProgress, User
from webapp.services import progress
from webapp.services.accounts import normalize_email
from webapp.services.audit import record_audit
from webapp.services.authoring.access import can_edit
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed

MAX_BYTES = 1_000_000
MAX_LINES = 5_000
LINE_SHOWN_MAX = 254
# How many enrolled ids the audit row lists (the count is always there).
AUDIT_IDS_MAX = 500

ENROLLED = "enrolled"
ALREADY = "already"
NO_ACCOUNT = "no_account"
INVALID = "invalid"
DUPLICATE = "duplicate"
INACTIVE = "inactive"
OUTCOMES = {
    ENROLLED: "Enrolled",
    ALREADY: "Already enrolled",
    NO_ACCOUNT: "No account — ask them to register",
    INVALID: "Not a valid email address",
    DUPLICATE: "Duplicate line (the address appears earlier)",
    INACTIVE: "Account not active (suspended, banned or closed)",
}
_SEPARATORS = re.compile(r"[\n,;]")
NOT_PUBLISHED = ("This course is not published, so nobody can be enrolled yet. Publish it "
                 "first (on the “Course and outline” tab).")


def _require_editor(actor: User, course: Course) -> None:
    if not can_edit(actor, course):
        raise NotFound("There is no such course.")


def _shown(text: str) -> str:
    """A line as the report shows it: no control characters, not endless."""
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs"))
    text = " ".join(text.split())
    return text if len(text) <= LINE_SHOWN_MAX else text[:LINE_SHOWN_MAX - 1] + "…"


def _too_many() -> ValidationFailed:
    return ValidationFailed(f"Send at most {MAX_LINES:,} addresses at once; split the list.",
                            field="addresses")


def parse_pasted(text: str | None) -> list[str]:
    """Addresses one per line or separated by commas or semicolons (blank ones skipped)."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise ValidationFailed("The list is larger than 1 MB; split it.", field="addresses")
    lines = [part.strip() for part in _SEPARATORS.split(text)]
    lines = [line for line in lines if line]
    if len(lines) > MAX_LINES:
        raise _too_many()
    return lines


def parse_csv(data: bytes) -> list[str]:
    """The addresses of a CSV file: the column headed "email" if there is one, else the
    first column. UTF-8 (with or without a byte order mark), at most 1 MB and
    ``MAX_LINES`` lines; anything else is refused with a message that says why."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed("The file is larger than 1 MB; split it into smaller files.",
                               field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed("The file is not UTF-8 text. Save it as “CSV UTF-8” and "
                               "upload it again.", field="file") from None
    if "\x00" in text:
        raise ValidationFailed("The file holds NUL characters: it is not a CSV text file.",
                               field="file")
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationFailed(f"The file is not valid CSV ({exc}).", field="file") from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    column = 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        if "email" in header:
            column = header.index("email")
            rows = rows[1:]
    if len(rows) > MAX_LINES:
        raise ValidationFailed(f"The file has more than {MAX_LINES:,} lines; split it.",
                               field="file")
    return [row[column].strip() if column < len(row) else "" for row in rows]


@dataclass(frozen=True)
class LineResult:
    number: int
    line: str
    outcome: str
    user_id: int | None = None

    @property
    def label(self) -> str:
        return OUTCOMES[self.outcome]


@dataclass(frozen=True)
class EnrollReport:
    lines: list[LineResult]

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    @property
    def counts(self) -> list[tuple[str, str, int]]:
        """(outcome, label, count) for the outcomes that happened, in a fixed order."""
        return [(key, label, self.count(key)) for key, label in OUTCOMES.items()
                if self.count(key)]


def enroll_addresses(actor: User, course: Course, lines: list[str]) -> EnrollReport:
    """Enroll the accounts behind ``lines`` in ``course`` and say what happened to each line.

    A fixed number of reads for the whole list (the accounts, their enrollments), then one
    ``progress.enroll`` per new learner; one audit row by ``actor`` with the counts.
    """
    _require_editor(actor, course)
    if course.status != "published":
        raise Conflict(NOT_PUBLISHED)
    if len(lines) > MAX_LINES:
        raise _too_many()
    if not lines:
        raise ValidationFailed("Paste at least one email address or choose a CSV file.",
                               field="addresses")
    normalized: list[str | None] = []
    for line in lines:
        try:
            normalized.append(normalize_email(line) if "\x00" not in line else None)
        except ValidationFailed:
            normalized.append(None)
    wanted = sorted({email for email in normalized if email})
    users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(wanted)))
             } if wanted else {}
    enrolled_ids = set(db.session.scalars(
        select(Enrollment.user_id).where(Enrollment.course_id == course.id,
                                         Enrollment.user_id.in_([u.id for u in users.values()])
                                         ))) if users else set()
    seen: set[str] = set()
    results: list[LineResult] = []
    for number, (line, email) in enumerate(zip(lines, normalized, strict=True), start=1):
        shown = _shown(line)
        if email is None:
            results.append(LineResult(number, shown, INVALID))
            continue
        if email in seen:
            results.append(LineResult(number, shown, DUPLICATE))
            continue
        seen.add(email)
        user = users.get(email)
        if user is None:
            results.append(LineResult(number, shown, NO_ACCOUNT))
        elif user.id in enrolled_ids:
            results.append(LineResult(number, shown, ALREADY, user.id))
        elif not user.is_active:
            results.append(LineResult(number, shown, INACTIVE, user.id))
        else:
            progress.enroll(user, course, actor=actor)
            results.append(LineResult(number, shown, ENROLLED, user.id))
    report = EnrollReport(results)
    new_ids = [r.user_id for r in results if r.outcome == ENROLLED]
    record_audit(actor, "insight.enroll", "course", course.id, {
        "enrolled": [None, len(new_ids)],
        "learners": [None, new_ids[:AUDIT_IDS_MAX]],
        "lines": [None, len(lines)],
    })
    db.session.flush()
    return report


@dataclass(frozen=True)
class UnenrollEffect:
    """What a learner keeps when removed: counted for the confirmation page."""

    sections_done: int
    attempts: int
    has_certificate: bool


def unenroll_effect(course: Course, user_id: int) -> UnenrollEffect:
    sections = db.session.scalar(select(func.count(SectionProgress.id)).where(
        SectionProgress.course_id == course.id, SectionProgress.user_id == user_id,
        SectionProgress.status == "completed")) or 0
    attempts = db.session.scalar(select(func.count(Attempt.id)).join(
        Quiz, Quiz.id == Attempt.quiz_id).where(
        Quiz.course_id == course.id, Attempt.user_id == user_id)) or 0
    certificate = db.session.scalar(select(Certificate.id).where(
        Certificate.course_id == course.id, Certificate.user_id == user_id))
    return UnenrollEffect(sections, attempts, certificate is not None)


def unenroll_learner(actor: User, course: Course, user_id: int) -> User:
    """Remove a learner's enrollment (``NotFound`` unless enrolled). Their progress,
    attempts and certificate stay, as when learners leave by themselves: enrolling again
    resumes where they were. Audited by ``actor``."""
    _require_editor(actor, course)
    found = db.session.execute(
        select(User, Enrollment).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, Enrollment.user_id == user_id)).first()
    if found is None:
        raise NotFound("This person is not enrolled in this course.")
    user, enrollment = found
    db.session.delete(enrollment)
    record_audit(actor, "insight.unenroll", "course", course.id,
                 {"learner": [user.id, None]})
    db.session.flush()
    return user
