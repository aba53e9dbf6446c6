"""Questions and answers on a course: asking (optionally about a lesson or one of its
sections), answering, votes, accepting an answer, lists with search and keyset pages,
"similar questions", edits that keep a revision, soft delete and restore.

Rules:
- Reading needs ``access.can_read``; asking, answering and voting need membership
  (``access.require_member``). The web layer adds e-mail verification and the posting
  rate before it calls these.
- A vote is one row per person and target (unique constraints); the target's ``score``
  changes in the same transaction by the vote's difference (``score = score + delta``),
  so concurrent votes add up exactly.
- The asker or a course's staff accepts one answer per question (a partial unique index
  guards it); staff answers are marked at read time from one query per page.
- Deleting is soft (``status = "deleted"``), by the author or staff; staff restore deleted
  and flag-hidden posts. Others see neither (a placeholder stands in for a removed answer).

Services flush; the caller commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, delete, false, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from webapp.content.render import render_post
from webapp.content.sanitize import POLICY_VERSION
from webapp.extensions import db
from webapp.models import (
    Course,
    CourseEditor,
    Lesson,
    Module,
    PostRevision,
    QaAnswer,
    QaQuestion,
    QaVote,
    Section,
    User,
)
from webapp.models.base import utcnow
from webapp.models.community import SECTION_KEY_MAX, TITLE_MAX
from webapp.models.users import EDITOR_ROLES
from webapp.services.community import access, holds, rules
from webapp.services.community.notifications import MailContext, notify
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed

SORTS = ("votes", "newest", "unanswered")
DEFAULT_SORT = "votes"
PAGE_SIZE = 20
ANSWER_PAGE_SIZE = 30
REVISION_PAGE_SIZE = 20
LESSON_LIST_SIZE = 5
SIMILAR_SIZE = 5
QUERY_MAX = 100
# Words too common to say two questions are alike.
_STOPWORDS = frozenset((
    "about", "after", "again", "also", "and", "are", "because", "been", "before", "but",
    "can", "could", "does", "doing", "for", "from", "have", "how", "into", "its", "just",
    "like", "not", "only", "should", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "what", "when", "where", "which", "while", "who",
    "why", "will", "with", "would", "you", "your"))
_WORD = re.compile(r"\w{3,}")


def question_path(question_id: int, answer_id: int | None = None) -> str:
    """The question page's path (``qa.question``), at an answer if given: notifications
    carry it."""
    path = f"/questions/{question_id}"
    return f"{path}#answer-{answer_id}" if answer_id else path


# --- reading --------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionItem:
    """One row of a question list."""

    id: int
    title: str
    score: int
    answer_count: int
    accepted: bool
    status: str
    created_at: datetime
    author_name: str
    lesson_title: str | None
    section_key: str | None


@dataclass(frozen=True)
class QuestionPage:
    items: list[QuestionItem]
    # The ``after`` value of the next page, None on the last.
    next_cursor: str | None


@dataclass(frozen=True)
class AnswerItem:
    answer: QaAnswer
    author_name: str
    staff: bool
    my_vote: int
    # False: the viewer sees a "removed" placeholder instead.
    shown: bool


@dataclass
class QuestionView:
    """Everything the question page shows, loaded in a fixed number of queries."""

    question: QaQuestion
    course: Course
    author_name: str
    author_staff: bool
    lesson: Lesson | None
    section_title: str | None
    my_vote: int
    answers: list[AnswerItem] = field(default_factory=list)
    next_cursor: str | None = None
    viewer_staff: bool = False
    viewer_member: bool = False
    viewer_id: int | None = None
    # ("question" | "answer", id) of the viewer's own posts that wait for a moderator.
    held: frozenset[tuple[str, int]] = frozenset()

    @property
    def may_accept(self) -> bool:
        return self.viewer_staff or self.viewer_id == self.question.author_id

    def may_change(self, author_id: int) -> bool:
        """Edit and delete: the author or staff."""
        return self.viewer_staff or self.viewer_id == author_id


def _require_read(user: User | None, course: Course) -> None:
    if access.can_read(user, course):
        return
    if course.status != "published" and not access.is_staff(user, course):
        raise NotFound("There is no such course.")
    raise PermissionDenied("Sign in to read this course's questions.")


def get_course_by_slug(user: User | None, slug: str) -> Course:
    """A course whose questions ``user`` may read (NotFound for unpublished courses
    outsiders cannot see)."""
    course = db.session.scalar(select(Course).where(Course.slug == slug))
    if course is None:
        raise NotFound("There is no such course.")
    _require_read(user, course)
    return course


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(word: str):
    return QaQuestion.search_text.like(f"%{_escape_like(word)}%", escape="\\")


def search_terms(query: str | None) -> list[str]:
    """The words of a search (lower-cased, at most 6, each at most ``QUERY_MAX``)."""
    text = " ".join((query or "").split())[:QUERY_MAX].lower()
    return text.split()[:6]


def parse_cursor(raw: str | None, sort: str) -> tuple[int, int] | None:
    """``(score, id)`` for the votes order, ``(0, id)`` for the others; None when absent or
    malformed (the first page)."""
    if not raw:
        return None
    parts = raw.split("_")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        return None
    if sort == "votes" and len(numbers) == 2 and all(abs(n) < 2**31 for n in numbers):
        return numbers[0], numbers[1]
    if sort != "votes" and len(numbers) == 1 and 0 <= numbers[0] < 2**31:
        return 0, numbers[0]
    return None


def _list_rows(stmt):
    return [QuestionItem(q.id, q.title, q.score, q.answer_count, q.accepted_answer_id
                         is not None, q.status, q.created_at, name, lesson_title,
                         q.section_key)
            for q, name, lesson_title in db.session.execute(stmt)]


def _list_select():
    return (select(QaQuestion, User.display_name, Lesson.title)
            .join(User, User.id == QaQuestion.author_id)
            .outerjoin(Lesson, Lesson.id == QaQuestion.lesson_id))


def list_questions(viewer: User | None, course: Course, *, sort: str = DEFAULT_SORT,
                   query: str | None = None, lesson_id: int | None = None,
                   after: str | None = None, removed: bool = False,
                   page_size: int = PAGE_SIZE) -> QuestionPage:
    """One page of a course's questions (one query): by votes, newest first, or the
    unanswered ones newest first; only those whose text holds every word of ``query``;
    ``removed`` (staff only) lists deleted and hidden ones instead of visible ones."""
    _require_read(viewer, course)
    if sort not in SORTS:
        sort = DEFAULT_SORT
    if removed and not access.is_staff(viewer, course):
        raise PermissionDenied("Only the course's teachers see removed questions.")
    stmt = _list_select().where(QaQuestion.course_id == course.id)
    stmt = stmt.where(QaQuestion.status != "visible" if removed
                      else QaQuestion.status == "visible")
    if lesson_id is not None:
        stmt = stmt.where(QaQuestion.lesson_id == lesson_id)
    for word in search_terms(query):
        stmt = stmt.where(_contains(word))
    if sort == "unanswered":
        stmt = stmt.where(QaQuestion.answer_count == 0)
    cursor = parse_cursor(after, sort)
    if sort == "votes":
        if cursor is not None:
            score, last = cursor
            stmt = stmt.where(or_(QaQuestion.score < score,
                                  and_(QaQuestion.score == score, QaQuestion.id < last)))
        stmt = stmt.order_by(QaQuestion.score.desc(), QaQuestion.id.desc())
    else:
        if cursor is not None:
            stmt = stmt.where(QaQuestion.id < cursor[1])
        stmt = stmt.order_by(QaQuestion.id.desc())
    items = _list_rows(stmt.limit(page_size + 1))
    next_cursor = None
    if len(items) > page_size:
        items = items[:page_size]
        last_item = items[-1]
        next_cursor = (f"{last_item.score}_{last_item.id}" if sort == "votes"
                       else str(last_item.id))
    return QuestionPage(items, next_cursor)


def lesson_questions(lesson_id: int, limit: int = LESSON_LIST_SIZE) -> list[QuestionItem]:
    """The newest visible questions about one lesson (one query), for the lesson page.
    The caller decides whether the reader may see them (``access.can_read``)."""
    return _list_rows(_list_select().where(
        QaQuestion.lesson_id == lesson_id, QaQuestion.status == "visible")
        .order_by(QaQuestion.id.desc()).limit(limit))


def similar_questions(viewer: User | None, course: Course, title: str | None,
                      limit: int = SIMILAR_SIZE) -> list[QuestionItem]:
    """Visible questions of the course sharing the most words with ``title`` (one query;
    none for a title without a meaningful word)."""
    _require_read(viewer, course)
    words = []
    for word in _WORD.findall(" ".join((title or "").split())[:TITLE_MAX].lower()):
        if word not in _STOPWORDS and word not in words:
            words.append(word)
    words = words[:6]
    if not words:
        return []
    matches = sum((case((_contains(word), 1), else_=0) for word in words), start=0)
    stmt = (_list_select()
            .where(QaQuestion.course_id == course.id, QaQuestion.status == "visible",
                   or_(*(_contains(word) for word in words)))
            .order_by(matches.desc(), QaQuestion.score.desc(), QaQuestion.id.desc())
            .limit(limit))
    return _list_rows(stmt)


def _staff_ids(course: Course, user_ids: set[int]) -> set[int]:
    """Which of ``user_ids`` are the course's staff (one query): admins, the owner and
    co-editors, while they hold an editor role and are active (``access.is_staff``)."""
    if not user_ids:
        return set()
    editors = select(CourseEditor.user_id).where(CourseEditor.course_id == course.id)
    return set(db.session.scalars(select(User.id).where(
        User.id.in_(user_ids), User.status == "active", User.role.in_(EDITOR_ROLES),
        or_(User.role == "admin", User.id == course.owner_id, User.id.in_(editors)))))


def _visible_to(item: QaQuestion | QaAnswer, viewer: User | None, staff: bool) -> bool:
    if item.status == "visible" or staff:
        return True
    # Authors still see their own hidden post (with a notice), not a deleted one.
    return item.status == "hidden" and viewer is not None and viewer.id == item.author_id


def question_page(viewer: User | None, question_id: int, *,
                  after: str | None = None) -> QuestionView:
    """The question, its answers (accepted first, then by votes; one keyset page), the
    viewer's votes and who is staff."""
    lesson_alias = aliased(Lesson)
    row = db.session.execute(
        select(QaQuestion, User.display_name, lesson_alias, Section.title)
        .join(User, User.id == QaQuestion.author_id)
        .outerjoin(lesson_alias, lesson_alias.id == QaQuestion.lesson_id)
        .outerjoin(Section, and_(Section.lesson_id == QaQuestion.lesson_id,
                                 Section.key == QaQuestion.section_key))
        .where(QaQuestion.id == question_id)).first()
    if row is None:
        raise NotFound("There is no such question.")
    question, author_name, lesson, section_title = row
    course = access.get_course(question.course_id)
    _require_read(viewer, course)
    staff = access.is_staff(viewer, course)
    if not _visible_to(question, viewer, staff):
        raise NotFound("This question was removed.")
    view = QuestionView(question=question, course=course, author_name=author_name,
                        author_staff=False, lesson=lesson, section_title=section_title,
                        my_vote=0, viewer_staff=staff,
                        viewer_member=access.is_member(viewer, course),
                        viewer_id=viewer.id if viewer is not None else None)
    stmt = (select(QaAnswer, User.display_name)
            .join(User, User.id == QaAnswer.author_id)
            .where(QaAnswer.question_id == question.id))
    cursor = parse_cursor(after, "votes")
    if cursor is not None:
        score, last = cursor
        stmt = stmt.where(QaAnswer.accepted == false(), or_(
            QaAnswer.score < score, and_(QaAnswer.score == score, QaAnswer.id > last)))
    rows = db.session.execute(stmt.order_by(
        QaAnswer.accepted.desc(), QaAnswer.score.desc(), QaAnswer.id.asc())
        .limit(ANSWER_PAGE_SIZE + 1)).all()
    if len(rows) > ANSWER_PAGE_SIZE:
        rows = rows[:ANSWER_PAGE_SIZE]
        last_answer = rows[-1][0]
        view.next_cursor = f"{last_answer.score}_{last_answer.id}"
    answers = [answer for answer, _ in rows]
    votes: dict[tuple[str, int], int] = {}
    if viewer is not None and viewer.is_authenticated:
        answer_ids = [answer.id for answer in answers]
        for q_id, a_id, value in db.session.execute(
                select(QaVote.question_id, QaVote.answer_id, QaVote.value).where(
                    QaVote.user_id == viewer.id,
                    or_(QaVote.question_id == question.id, QaVote.answer_id.in_(answer_ids)))):
            votes[("question", q_id) if q_id is not None else ("answer", a_id)] = value
    staff_ids = _staff_ids(course, {question.author_id} | {a.author_id for a in answers})
    view.author_staff = question.author_id in staff_ids
    view.my_vote = votes.get(("question", question.id), 0)
    view.answers = [AnswerItem(answer, name, answer.author_id in staff_ids,
                               votes.get(("answer", answer.id), 0),
                               _visible_to(answer, viewer, staff)) for answer, name in rows]
    view.held = _held_posts(viewer, question, answers)
    return view


def _held_posts(viewer: User | None, question: QaQuestion,
                answers: list[QaAnswer]) -> frozenset[tuple[str, int]]:
    """The viewer's hidden posts on the page that are held for a moderator (at most two
    indexed queries, only when the viewer has hidden posts here)."""
    if viewer is None or not getattr(viewer, "is_authenticated", False):
        return frozenset()
    mine = [("question", question.id)] if question.status == "hidden" \
        and question.author_id == viewer.id else []
    mine += [("answer", a.id) for a in answers
             if a.status == "hidden" and a.author_id == viewer.id]
    held: set[tuple[str, int]] = set()
    for kind in ("question", "answer"):
        ids = [target_id for k, target_id in mine if k == kind]
        held |= {(kind, target_id) for target_id in holds.waiting(kind, ids)}
    return frozenset(held)


# --- writing --------------------------------------------------------------------------


def _clean_title(raw: str | None) -> str:
    return rules.clean_text(raw, field="title", label="Title", max_length=TITLE_MAX,
                            min_length=rules.TITLE_MIN, single_line=True)


def _clean_body(raw: str | None, label: str = "Body") -> str:
    return rules.clean_text(raw, field="body", label=label, max_length=rules.POST_MAX)


def _search_text(title: str, body: str) -> str:
    return f"{title}\n{body}".lower()


def _set_body(item: QaQuestion | QaAnswer, body: str) -> None:
    item.body = body
    item.body_html = render_post(body)
    item.html_policy = POLICY_VERSION


def get_question(question_id: int) -> QaQuestion:
    question = db.session.get(QaQuestion, question_id)
    if question is None:
        raise NotFound("There is no such question.")
    return question


def get_answer(answer_id: int) -> QaAnswer:
    answer = db.session.get(QaAnswer, answer_id)
    if answer is None:
        raise NotFound("There is no such answer.")
    return answer


def course_lessons(course: Course) -> list[tuple[int, str]]:
    """``(id, title)`` of the course's lessons in syllabus order (the ask form's choices)."""
    return [(lesson_id, title) for lesson_id, title in db.session.execute(
        select(Lesson.id, Lesson.title).join(Module, Module.id == Lesson.module_id)
        .where(Lesson.course_id == course.id)
        .order_by(Module.position, Lesson.position, Lesson.id))]


def resolve_place(course: Course, lesson_id: int | None,
                  section_key: str | None) -> tuple[Lesson | None, Section | None]:
    """The lesson of ``course`` and its section that a question is about; an unknown
    section is dropped (the lesson may have been rewritten), an unknown lesson refused."""
    if lesson_id is None:
        return None, None
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or lesson.course_id != course.id:
        raise ValidationFailed("Choose a lesson of this course.", field="lesson")
    section = None
    if section_key:
        section = db.session.scalar(select(Section).where(
            Section.lesson_id == lesson.id, Section.key == section_key[:SECTION_KEY_MAX]))
    return lesson, section


def ask_question(user: User, course: Course, *, title: str | None, body: str | None,
                 lesson_id: int | None = None,
                 section_key: str | None = None) -> QaQuestion:
    """A new question on ``course`` (optionally about a lesson or one of its sections)."""
    access.require_member(user, course)
    clean_title = _clean_title(title)
    clean_body = _clean_body(body)
    held = rules.hold_links(user, clean_title, clean_body)
    lesson, section = resolve_place(course, lesson_id, section_key)
    question = QaQuestion(course_id=course.id, author_id=user.id, title=clean_title,
                          status="hidden" if held else "visible",
                          lesson_id=lesson.id if lesson else None,
                          section_key=section.key if section else None,
                          search_text=_search_text(clean_title, clean_body),
                          last_activity_at=utcnow())
    _set_body(question, clean_body)
    db.session.add(question)
    db.session.flush()
    if held:
        holds.hold_post("question", question, course_id=course.id)
    return question


def answer_question(user: User, question: QaQuestion, *, body: str | None,
                    mail_context: MailContext | None) -> QaAnswer:
    """A new answer; the asker hears about it ("question_answered")."""
    course = access.get_course(question.course_id)
    access.require_member(user, course)
    if question.status != "visible":
        raise NotFound("This question was removed.")
    clean_body = _clean_body(body, "Answer")
    held = rules.hold_links(user, clean_body)
    answer = QaAnswer(question_id=question.id, author_id=user.id,
                      status="hidden" if held else "visible")
    _set_body(answer, clean_body)
    db.session.add(answer)
    db.session.flush()
    db.session.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(
        answer_count=QaQuestion.answer_count + 1, last_activity_at=utcnow())
        .execution_options(synchronize_session=False))
    db.session.expire(question, ["answer_count", "last_activity_at"])
    if held:
        # Nobody hears of it until a moderator lets it through.
        holds.hold_post("answer", answer, course_id=course.id)
        return answer
    notify([question.author_id], "question_answered",
           f"{user.display_name} answered your question “{question.title}”",
           question_path(question.id, answer.id), mail_context=mail_context, actor=user,
           course_id=course.id)
    return answer


@dataclass(frozen=True)
class VoteResult:
    score: int
    value: int


def vote(user: User, target: QaQuestion | QaAnswer, value: int) -> VoteResult:
    """Set ``user``'s vote on a question or answer to +1, -1 or 0 (none). The score moves
    by the difference in the same transaction, as one ``UPDATE … SET score = score + d``,
    so concurrent votes never lose one."""
    if value not in (-1, 0, 1):
        raise ValidationFailed("A vote is up, down or none.", field="value")
    is_question = isinstance(target, QaQuestion)
    question = target if is_question else get_question(target.question_id)
    course = access.get_course(question.course_id)
    access.require_member(user, course)
    if target.status != "visible" or question.status != "visible":
        raise NotFound("This post was removed.")
    if target.author_id == user.id:
        raise PermissionDenied("You cannot vote on your own post.")
    model = QaQuestion if is_question else QaAnswer
    column = QaVote.question_id if is_question else QaVote.answer_id

    def current() -> QaVote | None:
        return db.session.scalar(select(QaVote).where(
            QaVote.user_id == user.id, column == target.id).with_for_update())

    existing = current()
    old = existing.value if existing is not None else 0
    if value != old:
        if existing is None:
            try:
                with db.session.begin_nested():
                    db.session.add(QaVote(user_id=user.id, value=value,
                                          **{column.key: target.id}))
            except IntegrityError:
                # The same person's other request inserted first: change that row.
                existing = current()
                old = existing.value if existing is not None else 0
        if existing is not None:
            if value == 0:
                db.session.delete(existing)
            else:
                existing.value = value
        db.session.flush()
    delta = value - old
    if delta:
        db.session.execute(update(model).where(model.id == target.id).values(
            score=model.score + delta).execution_options(synchronize_session=False))
    db.session.expire(target, ["score"])
    return VoteResult(score=db.session.scalar(
        select(model.score).where(model.id == target.id)) or 0, value=value)


def withdraw_votes(user: User) -> int:
    """Remove every vote of ``user`` (their account is closing), taking each out of its
    target's score in the same transaction; how many went."""
    votes = db.session.execute(select(QaVote.id, QaVote.question_id, QaVote.answer_id,
                                      QaVote.value).where(QaVote.user_id == user.id)).all()
    for _vote_id, question_id, answer_id, value in votes:
        model, target_id = (QaQuestion, question_id) if question_id else (QaAnswer, answer_id)
        db.session.execute(update(model).where(model.id == target_id).values(
            score=model.score - value).execution_options(synchronize_session=False))
    if votes:
        db.session.execute(delete(QaVote).where(QaVote.id.in_([v[0] for v in votes]))
                           .execution_options(synchronize_session=False))
    return len(votes)


def _require_author_or_staff(user: User, item: QaQuestion | QaAnswer, course: Course,
                             action: str) -> None:
    if item.author_id == user.id and user.is_active:
        return
    if not access.is_staff(user, course):
        raise PermissionDenied(f"Only the author or the course's teachers can {action} it.")


def _course_of(item: QaQuestion | QaAnswer) -> tuple[QaQuestion, Course]:
    question = item if isinstance(item, QaQuestion) else get_question(item.question_id)
    return question, access.get_course(question.course_id)


def editable(user: User, item: QaQuestion | QaAnswer) -> tuple[QaQuestion, Course]:
    """The question and course of ``item`` when ``user`` may edit it (its author or staff;
    not once deleted)."""
    question, course = _course_of(item)
    _require_read(user, course)
    _require_author_or_staff(user, item, course, "edit")
    if item.status == "deleted" or question.status == "deleted":
        raise NotFound("This post was deleted; restore it first.")
    return question, course


def accept_answer(user: User, answer: QaAnswer, *,
                  mail_context: MailContext | None) -> QaQuestion:
    """Mark ``answer`` as the accepted one (replacing any other); by the asker or staff.
    Its author hears about it ("answer_accepted")."""
    question, course = _course_of(answer)
    if user.id != question.author_id and not access.is_staff(user, course):
        raise PermissionDenied("Only the asker or the course's teachers accept an answer.")
    if answer.status != "visible" or question.status != "visible":
        raise NotFound("This answer was removed.")
    if answer.accepted:
        return question
    # Clear the old one first: the partial unique index allows one accepted per question.
    db.session.execute(update(QaAnswer).where(
        QaAnswer.question_id == question.id, QaAnswer.accepted == true())
        .values(accepted=False).execution_options(synchronize_session=False))
    db.session.execute(update(QaAnswer).where(QaAnswer.id == answer.id)
                       .values(accepted=True).execution_options(synchronize_session=False))
    question.accepted_answer_id = answer.id
    question.last_activity_at = utcnow()
    db.session.flush()
    db.session.expire_all()
    notify([answer.author_id], "answer_accepted",
           f"Your answer to “{question.title}” was accepted",
           question_path(question.id, answer.id), mail_context=mail_context, actor=user,
           course_id=course.id)
    return question


def unaccept_answer(user: User, question: QaQuestion) -> QaQuestion:
    """Take back the accepted answer (the asker or staff)."""
    course = access.get_course(question.course_id)
    if user.id != question.author_id and not access.is_staff(user, course):
        raise PermissionDenied("Only the asker or the course's teachers accept an answer.")
    db.session.execute(update(QaAnswer).where(
        QaAnswer.question_id == question.id, QaAnswer.accepted == true())
        .values(accepted=False).execution_options(synchronize_session=False))
    question.accepted_answer_id = None
    db.session.flush()
    db.session.expire_all()
    return question


def edit_question(user: User, question: QaQuestion, *, title: str | None,
                  body: str | None) -> QaQuestion:
    """Change a question's title and body, keeping the old text as a revision."""
    course = access.get_course(question.course_id)
    _require_author_or_staff(user, question, course, "edit")
    if question.status == "deleted":
        raise NotFound("This question was deleted; restore it first.")
    clean_title = _clean_title(title)
    clean_body = _clean_body(body)
    rules.check_links(user, clean_title, clean_body)
    if (clean_title, clean_body) == (question.title, question.body):
        return question
    db.session.add(PostRevision(question_id=question.id, editor_id=user.id,
                                title=question.title, body=question.body))
    question.title = clean_title
    _set_body(question, clean_body)
    question.search_text = _search_text(clean_title, clean_body)
    question.edited_at = utcnow()
    db.session.flush()
    return question


def edit_answer(user: User, answer: QaAnswer, *, body: str | None) -> QaAnswer:
    """Change an answer's body, keeping the old text as a revision."""
    _question, course = _course_of(answer)
    _require_author_or_staff(user, answer, course, "edit")
    if answer.status == "deleted":
        raise NotFound("This answer was deleted; restore it first.")
    clean_body = _clean_body(body, "Answer")
    rules.check_links(user, clean_body)
    if clean_body == answer.body:
        return answer
    db.session.add(PostRevision(answer_id=answer.id, editor_id=user.id, body=answer.body))
    _set_body(answer, clean_body)
    answer.edited_at = utcnow()
    db.session.flush()
    return answer


def delete_post(user: User, item: QaQuestion | QaAnswer) -> None:
    """Soft-delete a question or answer (the author or staff). A deleted answer stops
    counting and is no longer accepted."""
    question, course = _course_of(item)
    _require_author_or_staff(user, item, course, "delete")
    if item.status == "deleted":
        return
    item.status = "deleted"
    item.deleted_at = utcnow()
    if isinstance(item, QaAnswer):
        if item.accepted:
            item.accepted = False
            question.accepted_answer_id = None
        db.session.flush()
        db.session.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(
            answer_count=case((QaQuestion.answer_count > 0, QaQuestion.answer_count - 1),
                              else_=0))
            .execution_options(synchronize_session=False))
        db.session.expire(question, ["answer_count"])
    db.session.flush()


def restore_post(user: User, item: QaQuestion | QaAnswer) -> None:
    """Make a deleted or flag-hidden question or answer visible again (staff)."""
    question, course = _course_of(item)
    access.require_staff(user, course)
    if item.status == "visible":
        return
    was_deleted = item.status == "deleted"
    item.status = "visible"
    item.deleted_at = None
    db.session.flush()
    if was_deleted and isinstance(item, QaAnswer):
        db.session.execute(update(QaQuestion).where(QaQuestion.id == question.id).values(
            answer_count=QaQuestion.answer_count + 1)
            .execution_options(synchronize_session=False))
        db.session.expire(question, ["answer_count"])


@dataclass(frozen=True)
class RevisionItem:
    id: int
    title: str | None
    body_html: str
    editor_name: str | None
    created_at: datetime


@dataclass(frozen=True)
class RevisionPage:
    question: QaQuestion
    answer: QaAnswer | None
    items: list[RevisionItem]
    next_cursor: str | None


def revisions(viewer: User | None, item: QaQuestion | QaAnswer, *,
              after: str | None = None) -> RevisionPage:
    """Earlier versions of a question or answer, newest first (keyset by id). The text is
    rendered for display (revisions store only the Markdown)."""
    question, course = _course_of(item)
    _require_read(viewer, course)
    staff = access.is_staff(viewer, course)
    if not (_visible_to(question, viewer, staff) and _visible_to(item, viewer, staff)):
        raise NotFound("This post was removed.")
    column = (PostRevision.question_id if isinstance(item, QaQuestion)
              else PostRevision.answer_id)
    stmt = (select(PostRevision, User.display_name)
            .outerjoin(User, User.id == PostRevision.editor_id)
            .where(column == item.id))
    cursor = parse_cursor(after, "newest")
    if cursor is not None:
        stmt = stmt.where(PostRevision.id < cursor[1])
    rows = db.session.execute(stmt.order_by(PostRevision.id.desc())
                              .limit(REVISION_PAGE_SIZE + 1)).all()
    next_cursor = None
    if len(rows) > REVISION_PAGE_SIZE:
        rows = rows[:REVISION_PAGE_SIZE]
        next_cursor = str(rows[-1][0].id)
    items = [RevisionItem(rev.id, rev.title, render_post(rev.body), name, rev.created_at)
             for rev, name in rows]
    return RevisionPage(question, item if isinstance(item, QaAnswer) else None, items,
                        next_cursor)
