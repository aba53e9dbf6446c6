"""Everything Tangent holds about a person: exporting it, and closing the account.

Both take the user concerned and the acting user, so that a learner (for their own
account) and an admin (for anyone's, from the console or the command line) call the
same functions; both are recorded as security events with the actor.

**Export** (``export_user``): one JSON-ready document, ``{"format": FORMAT, "version":
VERSION, ...}``, with a section per table that holds the person's rows. Secrets are
left out (the password hash, session token hashes).

**Closing** (``close_account``), in the caller's one transaction:

- the person's own rows are deleted: enrollments, section and lesson progress,
  notes, bookmarks, quiz attempts with their answers, certificates (their public
  verification page stops answering: it showed the person's name, and it is not
  Tangent's to keep showing once the account is closed), "Go deeper" requests and
  branch progress, co-editor memberships, notification preferences and sessions,
  notifications and the calendar feed link; their votes are taken out of the scores
  they counted in, and the seats they held at events go to the first person waiting;
- the ``user`` row stays, anonymized: address ``deleted-<id>@deleted.invalid`` (so the
  real address can register again), name "Deleted user <id>", an unusable password,
  no time zone, role learner, status "deleted". The audit trail and security events
  are append-only and keep pointing at this pseudonym;
- what the person made for others stays, attributed to the pseudonym: courses they
  own (admins can still edit them and give them a new owner), lesson and course
  revisions, branch lessons other learners share, AI jobs they asked for, their
  questions, answers, channel messages, announcements and events (a thread keeps its
  sense), and the flags they raised (moderators keep the evidence);
- the last active admin cannot close their own account (nobody could run the site).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash

from webapp.extensions import db
from webapp.models import (
    AccountToken,
    Announcement,
    Answer,
    AnswerChoice,
    Appeal,
    Attempt,
    AuditEvent,
    Bookmark,
    Branch,
    BranchProgress,
    BranchRequest,
    CalendarFeed,
    Certificate,
    ChannelMessage,
    Choice,
    Course,
    CourseEditor,
    Enrollment,
    Event,
    EventRsvp,
    Flag,
    Lesson,
    LessonProgress,
    ModerationAction,
    Note,
    Notification,
    NotificationPreference,
    OutgoingMail,
    QaAnswer,
    QaQuestion,
    QaVote,
    Question,
    Quiz,
    SectionProgress,
    SecurityEvent,
    User,
    UserSession,
)
from webapp.models.base import Base, utcnow
from webapp.services.audit import record_audit, record_security_event
from webapp.services.community import events as community_events
from webapp.services.community import qa as community_qa
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.notification_prefs import preferences

FORMAT = "tangent-account-export"
VERSION = 1
PSEUDONYM_DOMAIN = "deleted.invalid"
# Never a valid werkzeug hash ("method$salt$hash"), so no password ever matches it.
UNUSABLE_PASSWORD_HASH = "!closed"  # noqa: S105 - not a password: a hash nothing matches

# The person's own rows, deleted when the account closes. Attempts take their answers
# with them (ON DELETE CASCADE).
DELETED_WITH_ACCOUNT: tuple[type[Base], ...] = (
    UserSession, NotificationPreference, Enrollment, SectionProgress, LessonProgress,
    Note, Bookmark, Attempt, Certificate, BranchRequest, BranchProgress, CourseEditor,
    # Mailed links, and the mail log's rows about the person (their address and name).
    AccountToken, OutgoingMail,
    # The community: what was addressed to the person, and their calendar link. (Votes
    # and RSVPs are withdrawn first, by their services, so scores and seats stay right.)
    Notification, CalendarFeed, QaVote, EventRsvp,
)

# Every table with a column that points at a user, and what closing an account does to
# those rows. tests/unit/test_account_data.py checks that this covers the metadata, so
# a new table cannot be forgotten by the export or by closing.
KEPT_WITH_PSEUDONYM = {
    "audit_event": "append-only trail of writes; the actor is the pseudonym",
    "security_event": "append-only; exported, and kept pointing at the pseudonym",
    "course": "courses stay for their learners; the owner is the pseudonym",
    "course_revision": "the history of a course names the pseudonym",
    "lesson_revision": "the history of a lesson names the pseudonym",
    "lesson_proposal": "AI rewrites asked for or decided by the person",
    "branch": "branch lessons are shared; promoted_by is the pseudonym",
    "course_editor": "added_by of other editors' memberships",
    "generation_job": "AI jobs and their costs stay in the ledger",
    "qa_question": "questions stay for the course; the asker is the pseudonym",
    "qa_answer": "answers stay with their questions; the author is the pseudonym",
    "channel_message": "messages stay in their channels and threads",
    "announcement": "announcements stay for the course's learners",
    "event": "events stay for those going; the organiser is the pseudonym",
    "post_revision": "earlier versions of posts name the pseudonym as editor",
    "notification": "other people's notifications keep the pseudonym as actor",
    "flag": "reports stay for moderators; the reporter (or resolver) is the pseudonym",
    "moderation_item": "the queue's record of items; the author is the pseudonym",
    "moderation_action": "what moderators did stays for the transparency report",
    "appeal": "appeals stay with the actions they contest",
}


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Base, *, without: Iterable[str] = ()) -> dict[str, Any]:
    """The columns of ``obj`` as JSON-ready values, minus ``without`` and ``user_id``."""
    skip = {"user_id", *without}
    return {c.key: _json(getattr(obj, c.key)) for c in obj.__table__.columns
            if c.key not in skip}


def _titles(model: type[Base], ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(
        select(model.id, model.title).where(model.id.in_(ids))).tuples().all())


def _moderation_actions(user: User) -> list[dict[str, Any]]:
    """What moderators (or the rules) did about ``user`` or their posts; who acted is
    not part of it (moderators act for the site)."""
    rows = db.session.scalars(select(ModerationAction).where(
        ModerationAction.subject_id == user.id).order_by(ModerationAction.id)).all()
    return [_row(r, without=("moderator_id", "undone_by_id", "item_id", "subject_id",
                             "batch")) for r in rows]


def _learner_rows(model: type[Base], user: User, *, order: Any = None,
                  without: Iterable[str] = ()) -> list[dict[str, Any]]:
    """``user``'s rows of ``model`` with the titles of the course and lesson they are
    about (two queries at most, whatever the number of rows)."""
    rows = db.session.scalars(select(model).where(model.user_id == user.id)
                              .order_by(order if order is not None else model.id)).all()
    out = [_row(r, without=without) for r in rows]
    courses = _titles(Course, {r["course_id"] for r in out if r.get("course_id")})
    lessons = _titles(Lesson, {r["lesson_id"] for r in out if r.get("lesson_id")})
    for r in out:
        if "course_id" in r:
            r["course_title"] = courses.get(r["course_id"])
        if "lesson_id" in r:
            r["lesson_title"] = lessons.get(r["lesson_id"])
    return out


def _attempts(user: User) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(Attempt, Quiz.title).join(Quiz, Quiz.id == Attempt.quiz_id)
        .where(Attempt.user_id == user.id).order_by(Attempt.id)).all()
    attempts = {a.id: {**_row(a), "quiz_title": title, "answers": []} for a, title in rows}
    if not attempts:
        return []
    answers: dict[int, dict[str, Any]] = {}
    for answer, prompt in db.session.execute(
            select(Answer, Question.prompt).join(Question, Question.id == Answer.question_id)
            .where(Answer.attempt_id.in_(attempts)).order_by(Answer.id)).all():
        answers[answer.id] = {**_row(answer, without=("attempt_id",)),
                              "question_prompt": prompt, "chosen": []}
        attempts[answer.attempt_id]["answers"].append(answers[answer.id])
    if answers:
        for answer_id, position, text in db.session.execute(
                select(AnswerChoice.answer_id, AnswerChoice.position, Choice.text)
                .join(Choice, Choice.id == AnswerChoice.choice_id)
                .where(AnswerChoice.answer_id.in_(answers))
                .order_by(AnswerChoice.answer_id, AnswerChoice.position)).all():
            answers[answer_id]["chosen"].append({"position": position, "text": text})
    return list(attempts.values())


def _branches(user: User) -> list[dict[str, Any]]:
    done = dict(db.session.execute(
        select(BranchProgress.branch_id, BranchProgress.completed_at)
        .where(BranchProgress.user_id == user.id)).tuples().all())
    asked = db.session.execute(
        select(BranchRequest.created_at, Branch.id, Branch.topic, Branch.title,
               Branch.status, Branch.parent_lesson_id)
        .join(Branch, Branch.id == BranchRequest.branch_id)
        .where(BranchRequest.user_id == user.id).order_by(BranchRequest.created_at)).all()
    out = [{"branch_id": b_id, "topic": topic, "title": title, "status": status,
            "parent_lesson_id": parent, "asked_at": _json(asked_at),
            "completed_at": _json(done.pop(b_id, None))}
           for asked_at, b_id, topic, title, status, parent in asked]
    # Branches finished without having asked for them (promoted to the whole course).
    out += [{"branch_id": b_id, "asked_at": None, "completed_at": _json(at)}
            for b_id, at in done.items()]
    return out


def _security_events(user: User) -> list[dict[str, Any]]:
    return [_row(e, without=("request_id",)) for e in db.session.scalars(
        select(SecurityEvent).where(SecurityEvent.user_id == user.id)
        .order_by(SecurityEvent.id))]


def _actions(user: User) -> list[dict[str, Any]]:
    """What the person did, from the audit trail (without the deltas, which can hold
    other people's data)."""
    return [{"at": _json(at), "action": action, "target_type": t_type, "target_id": t_id}
            for at, action, t_type, t_id in db.session.execute(
                select(AuditEvent.created_at, AuditEvent.action, AuditEvent.target_type,
                       AuditEvent.target_id)
                .where(AuditEvent.actor_id == user.id).order_by(AuditEvent.id)).all()]


def _authored(user: User) -> dict[str, Any]:
    courses = db.session.execute(
        select(Course.id, Course.slug, Course.title, Course.status)
        .where(Course.owner_id == user.id).order_by(Course.id)).all()
    editing = db.session.execute(
        select(CourseEditor.course_id, Course.title, CourseEditor.added_at)
        .join(Course, Course.id == CourseEditor.course_id)
        .where(CourseEditor.user_id == user.id).order_by(CourseEditor.course_id)).all()
    return {
        "courses_owned": [{"id": i, "slug": s, "title": t, "status": st}
                          for i, s, t, st in courses],
        "courses_co_edited": [{"course_id": i, "course_title": t, "added_at": _json(at)}
                              for i, t, at in editing],
    }


def _posts(user: User) -> dict[str, Any]:
    """What the person wrote in the community, as they wrote it (Markdown)."""
    text_only = ("body_html", "html_policy", "search_text")
    return {
        name: [_row(r, without=text_only) for r in db.session.scalars(
            select(model).where(model.author_id == user.id).order_by(model.id))]
        for name, model in (("questions", QaQuestion), ("answers", QaAnswer),
                            ("channel_messages", ChannelMessage),
                            ("announcements", Announcement), ("events", Event))
    }


# Section name → (the tables it covers, how it is built).
SECTIONS: dict[str, tuple[tuple[str, ...], Callable[[User], Any]]] = {
    "enrollments": (("enrollment",), lambda u: _learner_rows(Enrollment, u)),
    "section_progress": (("section_progress",), lambda u: _learner_rows(SectionProgress, u)),
    "lesson_progress": (("lesson_progress",), lambda u: _learner_rows(LessonProgress, u)),
    "notes": (("note",), lambda u: _learner_rows(Note, u, without=("html", "renderer_version",
                                                                   "version"))),
    "bookmarks": (("bookmark",), lambda u: _learner_rows(Bookmark, u)),
    "quiz_attempts": (("attempt", "answer", "answer_choice"), _attempts),
    "certificates": (("certificate",), lambda u: _learner_rows(Certificate, u)),
    "branch_lessons": (("branch_request", "branch_progress"), _branches),
    "sessions": (("user_session",), lambda u: _learner_rows(
        UserSession, u, order=UserSession.created_at, without=("token_hash",))),
    "notification_preferences": (("notification_preference",), preferences),
    "mail": (("outgoing_mail",), lambda u: _learner_rows(
        OutgoingMail, u, without=("text_body", "html_body"))),
    "account_links": (("account_token",), lambda u: _learner_rows(
        AccountToken, u, without=("token_hash",))),
    "notifications": (("notification",), lambda u: _learner_rows(Notification, u)),
    "votes": (("qa_vote",), lambda u: _learner_rows(QaVote, u)),
    "event_answers": (("event_rsvp",), lambda u: _learner_rows(EventRsvp, u)),
    "calendar_feed": (("calendar_feed",), lambda u: _learner_rows(
        CalendarFeed, u, without=("token_hash",))),
    "flags_raised": (("flag",), lambda u: _learner_rows(Flag, u)),
    "appeals": (("appeal",), lambda u: _learner_rows(Appeal, u)),
    "moderation_actions_about_you": (("moderation_action",), _moderation_actions),
    "community_posts": ((), _posts),
    "security_events": (("security_event",), _security_events),
    "actions": (("audit_event",), _actions),
    "authoring": (("course_editor", "course"), _authored),
}
EXPORTED_TABLES = frozenset({"user", *(t for tables, _ in SECTIONS.values() for t in tables)})


def export_user(user: User, *, actor: User | None, ip: str | None = None) -> dict[str, Any]:
    """Everything Tangent holds about ``user``, as a JSON-ready document; records an
    ``account_exported`` security event (with ``actor``) in the caller's transaction."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _json(utcnow()),
        "profile": _row(user, without=("password_hash", "session_version", "version")),
    }
    for name, (_tables, build) in SECTIONS.items():
        document[name] = build(user)
    record_security_event("account_exported", user=user, actor=actor, ip=ip)
    return document


def export_filename(user: User, day: date | None = None) -> str:
    """``tangent-account-<id>-<YYYY-MM-DD>.json``."""
    return f"tangent-account-{user.id}-{(day or utcnow().date()).isoformat()}.json"


def _is_last_admin(user: User) -> bool:
    if not (user.is_admin and user.status == "active"):
        return False
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.status == "active", User.id != user.id))
    return not others


def close_account(user: User, *, actor: User | None, password: str | None = None,
                  ip: str | None = None) -> dict[str, int]:
    """Close ``user``'s account by the rules in this module's docstring; flushes, the
    caller commits once. When the person closes their own account (``actor`` is
    ``user``) ``password`` must be theirs. Returns how many rows of each table went.

    Raises ``ValidationFailed`` (field ``password``) for a wrong password,
    ``Conflict`` when the account is closed already or is the last active admin.
    """
    if user.status == "deleted":
        raise Conflict("This account is closed already.")
    if actor is not None and actor.id == user.id and not check_password_hash(
            user.password_hash, password or ""):
        raise ValidationFailed("The password is not correct.", field="password")
    if _is_last_admin(user):
        raise Conflict("This is the last active admin account: make another admin first, "
                       "so that someone can still run the site.")
    community_qa.withdraw_votes(user)
    community_events.release_rsvps(user)
    deleted = {}
    for model in DELETED_WITH_ACCOUNT:
        result = db.session.execute(delete(model).where(model.user_id == user.id)
                                    .execution_options(synchronize_session=False))
        deleted[model.__tablename__] = result.rowcount or 0
    before = {"status": user.status, "role": user.role}
    user.email = f"deleted-{user.id}@{PSEUDONYM_DOMAIN}"
    user.display_name = f"Deleted user {user.id}"
    user.password_hash = UNUSABLE_PASSWORD_HASH
    user.time_zone = None
    user.email_verified_at = None
    user.last_login_at = None
    user.suspended_until = None
    user.status_reason = ""
    user.focus_mode = False
    user.role = "learner"
    user.status = "deleted"
    user.session_version += 1
    db.session.flush()
    # The old address and name are not written here: the trail would keep them forever.
    record_audit(actor, "user.close", "user", user.id, {
        "status": [before["status"], "deleted"], "role": [before["role"], "learner"],
        "email": ["(removed)", user.email], "display_name": ["(removed)", user.display_name],
    })
    record_security_event("account_deleted", user=user, actor=actor, ip=ip,
                          deleted={k: v for k, v in deleted.items() if v})
    return deleted
