"""Branch lessons ("go deeper"): suggesting subtopics, requesting a branch (shared by
everyone who asks the same question of the same lesson), who may see it, its own
progress, promotion by an editor, and the ``branch`` job pipeline that writes it.

A branch's state is read together with its job: the job runner marks only the job
failed or cancelled, so a *pending* branch whose job has ended without writing it is
shown as failed (``branch_state``), and asking for it again starts a new job. Nothing
needs to run when a job dies for the branch to stop looking busy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import unescape

from sqlalchemy import Select, and_, bindparam, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from webapp.content.render import RENDERER_VERSION, render_lesson
from webapp.extensions import db
from webapp.models import (
    Branch,
    BranchProgress,
    BranchRequest,
    Course,
    GenerationJob,
    Lesson,
    User,
)
from webapp.models.base import utcnow
from webapp.models.branches import BRANCH_VISIBILITIES
from webapp.providers.text import BRANCH_SCHEMA, TextProvider
from webapp.services.audio_text import html_to_speech_text
from webapp.services.audit import record_audit
from webapp.services.authoring import can_edit, check_source
from webapp.services.community import rules
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from webapp.services.jobs import (
    TOPIC_MAX,
    TOPIC_MIN,
    check_topic,
    normalize_topic,
    record_usage,
    request_job,
)
from webapp.services.moderation import access as moderation_access
from webapp.services.moderation import notices
from webapp.services.moderation import queue as moderation_queue
from webapp.services.paging import split_page
from webapp.services.progress import get_enrollment
from webapp.settings import Settings

MAX_SUGGESTIONS = 8
LIST_LIMIT = 20
EXCERPT_CHARS = 1500
# A <Branch topic="…"/> line as the renderer accepts it (one line, double quotes).
_BRANCH_TAG = re.compile(r'^[ \t]*<Branch[ \t]+topic="([^"]*)"[ \t]*/?>[ \t]*$', re.MULTILINE)
_ID_ATTR = re.compile(r'\b(id|href)="(#?)([A-Za-z0-9_-]+)"')


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchItem:
    """A branch as one learner sees it: with its job and whether they finished it."""

    branch: Branch
    job: GenerationJob | None
    done: bool

    @property
    def state(self) -> str:
        return branch_state(self.branch, self.job)


def branch_state(branch: Branch, job: GenerationJob | None) -> str:
    """``ready``, ``pending`` (its job is queued or running), ``failed`` or ``held`` (a
    newcomer's request waits for a moderator; nothing is being written)."""
    if branch.status != "pending":
        return branch.status
    return "pending" if job is not None and job.active and job.id == branch.job_id else "failed"


def suggestions(lesson: Lesson) -> list[str]:
    """Topics to offer: the lesson's ``<Branch topic>`` lines, then its section titles.

    Read from the stored source and sections (no rendering); deduplicated by the
    normalized topic, only topics a request would accept, at most ``MAX_SUGGESTIONS``.
    """
    candidates = [unescape(m).strip() for m in _BRANCH_TAG.findall(lesson.source or "")]
    candidates += [s.title for s in lesson.sections if s.title != lesson.title]
    seen: set[str] = set()
    topics = []
    for topic in candidates:
        topic = " ".join(topic.split())
        key = normalize_topic(topic)
        if key in seen or not TOPIC_MIN <= len(topic) <= TOPIC_MAX:
            continue
        seen.add(key)
        topics.append(topic)
        if len(topics) == MAX_SUGGESTIONS:
            break
    return topics


def may_request(user: User | None, course: Course, *, enrolled: bool) -> bool:
    """Enrolled learners of a published course, and its editors, may ask for branches."""
    if user is None or not user.is_authenticated:
        return False
    return (enrolled and course.status == "published") or can_edit(user, course)


def visible_branches(user: User, lesson: Lesson, *, enrolled: bool | None = None,
                     limit: int = LIST_LIMIT) -> list[BranchItem]:
    """The lesson's branches ``user`` may see, newest first, in one query.

    Learners see the branches they asked for and, when enrolled, promoted ones;
    editors of the course see them all.
    """
    if user is None or not user.is_authenticated:
        return []
    course = lesson.course
    editor = can_edit(user, course)
    if enrolled is None:
        enrolled = get_enrollment(user, course.id) is not None
    stmt = _VISIBLE_BRANCHES["all" if editor else "enrolled" if enrolled else "asked"]
    params = {"user_id": user.id, "lesson_id": lesson.id, "limit": limit}
    return [BranchItem(branch, job, done is not None)
            for branch, job, done in db.session.execute(stmt, params)]


def _visible_branches_statements() -> dict[str, Select]:
    """The three views of a lesson's branches: an editor's (all), an enrolled learner's
    (asked for or promoted, not hidden) and another signed-in reader's (asked for)."""
    user = bindparam("user_id")
    base = (
        select(Branch, GenerationJob, BranchProgress.completed_at)
        .outerjoin(GenerationJob, GenerationJob.id == Branch.job_id)
        .outerjoin(BranchProgress, and_(BranchProgress.branch_id == Branch.id,
                                        BranchProgress.user_id == user))
        .where(Branch.parent_lesson_id == bindparam("lesson_id"))
        .order_by(Branch.id.desc()).limit(bindparam("limit"))
    )
    asked = exists().where(BranchRequest.branch_id == Branch.id, BranchRequest.user_id == user)
    return {
        "all": base,
        "enrolled": base.where(Branch.visibility != "hidden",
                               or_(asked, Branch.visibility == "course")),
        "asked": base.where(Branch.visibility != "hidden", asked),
    }


# Built once: the lesson page runs one on every signed-in view.
_VISIBLE_BRANCHES = _visible_branches_statements()


def get_branch_for(user: User, branch_id: int) -> BranchItem:
    """A branch its requesters, (once promoted) the course's learners, its editors or an
    admin may see; NotFound for everyone else, so a private branch's existence stays hidden.
    """
    row = db.session.execute(
        select(Branch, GenerationJob)
        .outerjoin(GenerationJob, GenerationJob.id == Branch.job_id)
        .where(Branch.id == branch_id)
    ).first()
    if row is None or not user.is_authenticated:
        raise NotFound("There is no such branch lesson.")
    branch, job = row
    course = db.session.get(Course, branch.course_id)
    if not can_edit(user, course):
        if course.status != "published":
            raise NotFound("There is no such branch lesson.")
        asked = db.session.get(BranchRequest, (branch.id, user.id)) is not None
        promoted = branch.visibility == "course" and get_enrollment(user, course.id) is not None
        if branch.visibility == "hidden" or not (asked or promoted):
            raise NotFound("There is no such branch lesson.")
    done = db.session.get(BranchProgress, (branch.id, user.id)) is not None
    return BranchItem(branch, job, done)


# --- writing -------------------------------------------------------------------------------


def subject_key(lesson_id: int, topic_key: str) -> str:
    return f"branch:{lesson_id}:{topic_key}"


def _add_requester(branch: Branch, user: User) -> None:
    if db.session.get(BranchRequest, (branch.id, user.id)) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(BranchRequest(branch_id=branch.id, user_id=user.id))
    except IntegrityError:  # the same learner asked twice at once: one row is enough
        if db.session.get(BranchRequest, (branch.id, user.id)) is None:
            raise


def _start_job(user: User, lesson: Lesson, topic: str, key: str,
               settings: Settings) -> GenerationJob:
    job, _created = request_job(
        user, kind="branch", subject_key=subject_key(lesson.id, key),
        params={"topic": topic, "topic_key": key}, settings=settings,
        course_id=lesson.course_id, lesson_id=lesson.id,
    )
    return job


def request_branch(user: User, lesson: Lesson, topic: str, *,
                   settings: Settings) -> tuple[Branch, GenerationJob | None]:
    """Ask for a branch of ``lesson`` on ``topic``: ``(branch, job)``, job None when ready.

    An existing branch for the same normalized topic is shared (the user is added to
    its requesters); a pending one returns its active job; a failed one gets a new job.
    Quotas (from ``settings``) apply only when a job is created (``QuotaExceeded``,
    nothing written).
    Flushes only.
    """
    course = lesson.course
    enrolled = get_enrollment(user, course.id) is not None
    if course.status != "published":
        raise NotFound("There is no such lesson.")
    if not may_request(user, course, enrolled=enrolled):
        raise PermissionDenied("Enroll in this course to ask for branch lessons.")
    topic = check_branch_topic(topic, lesson)
    key = normalize_topic(topic)
    branch = db.session.scalar(select(Branch).where(Branch.parent_lesson_id == lesson.id,
                                                    Branch.topic_key == key))
    hold = _holds(user, course)
    if branch is None:
        job = None if hold else _start_job(user, lesson, topic, key, settings)
        branch = Branch(parent_lesson_id=lesson.id, course_id=lesson.course_id, topic=topic,
                        topic_key=key, status="held" if hold else "pending",
                        job_id=job.id if job else None)
        try:
            with db.session.begin_nested():
                db.session.add(branch)
        except IntegrityError:  # another request created it first: share theirs
            branch = db.session.scalar(select(Branch).where(
                Branch.parent_lesson_id == lesson.id, Branch.topic_key == key))
            if branch is None:
                raise
        else:
            _add_requester(branch, user)
            record_audit(user, "branch.hold" if hold else "branch.request", "branch",
                         branch.id, {"topic": [None, topic],
                                     "job": [None, job.id if job else None]})
            if hold:
                _enqueue_held(branch, user)
            return branch, job
    if branch.visibility == "hidden" and branch.status != "ready" \
            and not can_edit(user, course):
        # Hidden by an editor, or declined by a moderator: not written again on request.
        raise ValidationFailed("This subtopic is not available: ask about another one.",
                               field="topic")
    _add_requester(branch, user)
    job = db.session.get(GenerationJob, branch.job_id) if branch.job_id else None
    state = branch_state(branch, job)
    if state in ("ready", "held"):
        return branch, None
    if state == "failed" and hold:
        branch.status, branch.job_id = "held", None
        db.session.flush()
        record_audit(user, "branch.hold", "branch", branch.id, {"status": ["failed", "held"]})
        _enqueue_held(branch, user)
        return branch, None
    if state == "failed":
        job = _start_job(user, lesson, branch.topic, key, settings)
        branch.status, branch.job_id = "pending", job.id
        db.session.flush()
        record_audit(user, "branch.retry", "branch", branch.id, {"job": [None, job.id]})
    return branch, job


def _holds(user: User, course: Course) -> bool:
    """Whether ``user``'s request waits for a moderator (rule "hold_branch_requests", for
    newcomers; a course's editors never wait)."""
    current = rules.current()
    return bool(current["hold_branch_requests"]) and not can_edit(user, course) \
        and rules.is_newcomer(user, current)


def _enqueue_held(branch: Branch, user: User) -> None:
    moderation_queue.enqueue("branch", branch.id, source="held", course_id=branch.course_id,
                             author_id=user.id, hidden=True, ai_generated=True)


def _first_requester(branch: Branch) -> User | None:
    """Who asked first (and still has an active account): the held request's author."""
    return db.session.scalar(
        select(User).join(BranchRequest, BranchRequest.user_id == User.id)
        .where(BranchRequest.branch_id == branch.id, User.status == "active")
        .order_by(BranchRequest.created_at, BranchRequest.user_id).limit(1))


def _require_held(branch: Branch, actor: User) -> None:
    if not moderation_access.can_moderate_course(actor, branch.course_id):
        raise PermissionDenied("Only moderators and the course's editors can decide on a "
                               "held branch request.")
    if branch.status != "held":
        raise Conflict("This branch request is no longer waiting for a moderator.")


def approve_held(branch: Branch, actor: User, *, settings: Settings) -> GenerationJob:
    """Let a held branch request be written: its job starts exactly as for a normal
    request, on behalf of the learner who asked first (their quotas and the site's and
    course's budgets apply: ``QuotaExceeded``, nothing written), and the branch is
    pending again. Moderators and the course's editors only. Audited; flushes. The caller
    commits, then enqueues the job (``webapp.jobs.runner.enqueue``) when it is queued.

    The queue item and the moderation action are the caller's (the moderation content
    actions), in the same transaction."""
    _require_held(branch, actor)
    requester = _first_requester(branch)
    if requester is None:
        raise Conflict("Nobody who asked for this branch lesson has an active account "
                       "any more: reject it instead.")
    lesson = db.session.get(Lesson, branch.parent_lesson_id)
    job = _start_job(requester, lesson, branch.topic, branch.topic_key, settings)
    branch.status, branch.job_id = "pending", job.id
    db.session.flush()
    record_audit(actor, "branch.approve_held", "branch", branch.id,
                 {"status": ["held", "pending"], "job": [None, job.id]})
    return job


def reject_held(branch: Branch, actor: User, *, notify: bool = True) -> None:
    """Decline a held branch request: nothing is written, the branch is failed and hidden
    (asking again for the same subtopic is refused), and (``notify``) everyone who asked
    gets a notice on the site. Moderators and the course's editors only. Audited;
    flushes."""
    _require_held(branch, actor)
    before = branch.visibility
    branch.status, branch.job_id, branch.visibility = "failed", None, "hidden"
    db.session.flush()
    record_audit(actor, "branch.reject_held", "branch", branch.id,
                 {"status": ["held", "failed"], "visibility": [before, "hidden"]})
    if notify:
        lesson = db.session.get(Lesson, branch.parent_lesson_id)
        course = db.session.get(Course, branch.course_id)
        url = f"/courses/{course.slug}/lessons/{lesson.slug}" if course and lesson else ""
        for user_id in db.session.scalars(select(BranchRequest.user_id).where(
                BranchRequest.branch_id == branch.id)):
            notices.tell(user_id, notices.Notice(
                title=f"A moderator declined your request for a branch lesson on "
                      f"“{branch.topic}”", url=url), site_url=None, actor=actor,
                course_id=branch.course_id)


def complete_branch(user: User, item: BranchItem) -> bool:
    """Mark a ready branch as read by ``user``; True when it was not marked before."""
    if item.state != "ready":
        raise ValidationFailed("This branch lesson is not ready yet.")
    if db.session.get(BranchProgress, (item.branch.id, user.id)) is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(BranchProgress(branch_id=item.branch.id, user_id=user.id))
    except IntegrityError:
        return False
    record_audit(user, "branch.complete", "branch", item.branch.id)
    return True


def promote(actor: User, branch: Branch) -> None:
    """Show a ready branch to every learner of the course (editors only)."""
    if branch.status != "ready":
        raise ValidationFailed("Only a finished branch lesson can be promoted.")
    set_visibility(actor, branch, "course")


def set_visibility(actor: User, branch: Branch, visibility: str) -> None:
    """Who sees a branch: ``requesters`` (who asked), ``course`` (every learner: promoted)
    or ``hidden`` (only the course's editors). Editors of the course only."""
    course = db.session.get(Course, branch.course_id)
    if not can_edit(actor, course):
        raise PermissionDenied("Only the course's editors can change who sees a branch lesson.")
    if visibility not in BRANCH_VISIBILITIES:
        raise ValidationFailed("Choose who sees the branch lesson.", field="visibility")
    before = branch.visibility
    if visibility == before:
        return
    branch.visibility = visibility
    if visibility == "course":
        branch.promoted_by_id, branch.promoted_at = actor.id, utcnow()
    record_audit(actor, "branch.promote" if visibility == "course" else "branch.visibility",
                 "branch", branch.id, {"visibility": [before, visibility]})
    db.session.flush()


# --- what learners may ask for, and what they asked for ---------------------------------------

BRANCH_TOPIC_MAX = 80
# Letters, digits, spaces and the punctuation of ordinary phrases; no markup or code.
_TOPIC_CHARS = re.compile(r"[\w\s\-',.:;()/&+?!\"\u2018\u2019\u201c\u201d]+")
_WORD = re.compile(r"\w{3,}")
_STOPWORDS = frozenset((
    "the", "and", "for", "with", "about", "from", "into", "what", "when", "where", "which",
    "who", "why", "how", "does", "this", "that", "these", "those", "more", "less", "than",
    "then", "are", "was", "were", "can", "could", "should", "would", "its", "their", "there",
    "here", "not", "but", "also", "very", "much", "many", "some", "any", "all", "use",
    "using",
))


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS}


def check_branch_topic(topic: str, lesson: Lesson) -> str:
    """A subtopic a learner may ask about: short, words only, and about this lesson (one of
    its words is in the lesson). What passes still reaches the model only as quoted data."""
    topic = check_topic(topic)
    if len(topic) > BRANCH_TOPIC_MAX:
        raise ValidationFailed(f"Keep the subtopic under {BRANCH_TOPIC_MAX} characters.",
                               field="topic")
    if not _TOPIC_CHARS.fullmatch(topic):
        raise ValidationFailed("Name the subtopic in words: symbols such as < > { } [ ] ` # "
                               "are not accepted.", field="topic")
    words = _words(topic)
    if not words & _words(f"{lesson.title}\n{lesson.source or ''}"):
        raise ValidationFailed(
            "Ask about something this lesson covers: none of the words of your subtopic "
            "appear in it. The suggestions above always work.", field="topic")
    return topic


@dataclass(frozen=True)
class AskedBranch:
    branch: Branch
    lesson_title: str
    requesters: int


def course_branches(course: Course, *, before: int | None = None,
                    limit: int = 50) -> tuple[list[AskedBranch], int | None]:
    """The branches learners asked for in ``course``, newest first, one page (keyset on
    id) and the cursor of the next page (None at the end). One query."""
    stmt = (select(Branch, Lesson.title, func.count(BranchRequest.user_id))
            .join(Lesson, Lesson.id == Branch.parent_lesson_id)
            .outerjoin(BranchRequest, BranchRequest.branch_id == Branch.id)
            .where(Branch.course_id == course.id)
            .group_by(Branch.id, Lesson.title)
            .order_by(Branch.id.desc()).limit(limit + 1))
    if before is not None:
        stmt = stmt.where(Branch.id < before)
    rows, last = split_page([AskedBranch(branch, title, count)
                             for branch, title, count in db.session.execute(stmt)], limit)
    return rows, (last.branch.id if last else None)


# --- the job pipeline ------------------------------------------------------------------------


def scope_ids(html: str, branch_id: int) -> str:
    """Prefix the fragment's own ids and ``#`` links, so a branch shown inside its parent
    lesson's page never repeats the lesson's heading ids. Only id-like values change."""
    def repl(match: re.Match) -> str:
        attr, hash_, value = match.groups()
        if attr == "href" and not hash_:
            return match.group(0)
        return f'{attr}="{hash_}branch-{branch_id}-{value}"'

    return _ID_ATTR.sub(repl, html)


def no_model_branch(topic: str, course: Course, lesson: Lesson) -> str:
    """The branch "lesson" written when no AI model is configured: says so, and links the
    sections of the lesson that mention the subtopic (all of them when none does)."""
    words = _words(topic)
    sections = [s for s in lesson.sections
                if words & _words(f"{s.title}\n{html_to_speech_text(s.html or '')}")]
    intro = (f"No AI model is set up on this site, so Tangent cannot write a branch lesson "
             f"on “{topic}” yet. Your teacher can see that you asked.")
    lead = ("What the lesson says about it:" if sections
            else "The lesson does not name it; its sections are:")
    links = [f"- [{s.title}](/courses/{course.slug}/lessons/{lesson.slug}#{s.key})"
             for s in (sections or list(lesson.sections))]
    return "\n\n".join([intro, "## In this lesson", lead, "\n".join(links)]) + "\n"



class BranchPipeline:
    """Steps of a ``branch`` job: ``write`` asks the model (its answer is kept in the
    job's state, so a resumed job never pays twice), ``render`` checks, renders and
    sanitizes it and stores it on the branch, which becomes ready."""

    def __init__(self, provider: TextProvider) -> None:
        self.provider = provider

    def steps(self, job: GenerationJob) -> Sequence[str]:
        return ["write", "render"]

    def run_step(self, job: GenerationJob, step: str) -> None:
        branch = db.session.scalar(select(Branch).where(
            Branch.parent_lesson_id == job.lesson_id,
            Branch.topic_key == job.params.get("topic_key")))
        if branch is None:
            raise ValidationFailed("the branch was deleted with its lesson")
        if step == "write":
            self._write(job, branch)
        elif step == "render":
            self._render(job, branch)
        else:
            raise ValidationFailed(f"unknown step {step!r}")

    def _write(self, job: GenerationJob, branch: Branch) -> None:
        if job.state.get("answer") is not None:
            return
        lesson = db.session.get(Lesson, branch.parent_lesson_id)
        course = db.session.get(Course, branch.course_id)
        if getattr(self.provider, "name", "") == "scaffold":
            # No model: learners never get the scaffold's prompts for editors; they get
            # the plain truth and what the lesson itself says about their subtopic.
            job.state = {**job.state, "answer": {
                "title": f"Going deeper: {branch.topic}",
                "markdown": no_model_branch(branch.topic, course, lesson),
                "provider": "", "model": "", "prompt_version": ""}}
            return
        completion = self.provider.complete_json("branch", {
            "topic": branch.topic, "level": course.level, "course_title": course.title,
            "lesson_title": lesson.title, "lesson_excerpt": lesson.source[:EXCERPT_CHARS],
        }, BRANCH_SCHEMA)
        last = completion.usage[-1] if completion.usage else None
        job.state = {**job.state, "answer": {
            "title": str(completion.data["title"]), "markdown": str(completion.data["markdown"]),
            "provider": last.provider if last else "", "model": last.model if last else "",
            "prompt_version": last.prompt_version if last else "",
        }}
        record_usage(job, completion.usage, "write")

    def _render(self, job: GenerationJob, branch: Branch) -> None:
        answer = job.state.get("answer")
        if answer is None:
            raise ValidationFailed("the model's answer is missing")
        if branch.status == "ready" and branch.job_id == job.id:
            return
        source = check_source(answer["markdown"])
        title = " ".join(answer["title"].split())[:160] or f"Going deeper: {branch.topic}"
        rendered = render_lesson(source, title)
        html = "\n".join(section.html for section in rendered.sections)
        branch.title, branch.source = title, source
        branch.html, branch.renderer_version = scope_ids(html, branch.id), RENDERER_VERSION
        branch.ai_provider = answer["provider"][:40] or None
        branch.ai_model = answer["model"][:120] or None
        branch.ai_prompt_version = answer["prompt_version"][:40] or None
        branch.ai_generated_at = utcnow()
        branch.status, branch.job_id = "ready", job.id
        record_audit(None, "branch.ready", "branch", branch.id,
                     {"status": ["pending", "ready"], "job": [None, job.id]})

