"""Where a course's learners stop: how many enrolled learners reached and completed each
lesson and section (in course order), and the sections where most learners stopped.

A fixed number of aggregate statements whatever the number of learners or progress rows:
the outline (one), the enrolled count (one), progress per section and per lesson (one
GROUP BY each, on the ``(course_id, unit_id, completed_at)`` indexes) and the last section
of the learners who have not finished (one GROUP BY on the course's enrollments).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlalchemy import and_, func, select

from webapp.extensions import db
from webapp.models import Course, Enrollment, Lesson, LessonProgress, Section, SectionProgress

# How many "stopped here" sections the page lists.
STOPPED_TOP = 5


@dataclass(frozen=True)
class SectionFigures:
    id: int
    title: str
    reached: int
    completed: int


@dataclass
class LessonFigures:
    id: int
    title: str
    reached: int
    completed: int
    sections: list[SectionFigures] = field(default_factory=list)


@dataclass(frozen=True)
class Stop:
    section_id: int
    section_title: str
    lesson_title: str
    learners: int


@dataclass(frozen=True)
class Funnel:
    learners: int  # enrolled now
    finished: int  # enrolled and completed the course
    lessons: list[LessonFigures]
    # The sections most learners who have not finished visited last, most first.
    stopped: list[Stop]

    @property
    def sections(self) -> int:
        return sum(len(lesson.sections) for lesson in self.lessons)


def _counts(model, unit_column, course_id: int) -> dict[int, tuple[int, int]]:
    """unit id -> (enrolled learners with a row, of them completed), one GROUP BY.

    Progress rows outlive an enrollment (re-enrolling resumes), so only the rows of
    learners enrolled now are counted."""
    rows = db.session.execute(
        select(unit_column, func.count(), func.count(model.completed_at))
        .join(Enrollment, and_(Enrollment.user_id == model.user_id,
                               Enrollment.course_id == model.course_id))
        .where(model.course_id == course_id)
        .group_by(unit_column)
    ).all()
    return {unit_id: (reached, completed) for unit_id, reached, completed in rows}


def course_funnel(course: Course) -> Funnel:
    outline = db.session.execute(
        select(Lesson.id, Lesson.title, Section.id, Section.title)
        .outerjoin(Section, Section.lesson_id == Lesson.id)
        .where(Lesson.course_id == course.id)
        .order_by(Lesson.position, Lesson.id, Section.position, Section.id)
    ).all()
    learners, finished = db.session.execute(
        select(func.count(), func.count(Enrollment.completed_at))
        .where(Enrollment.course_id == course.id)
    ).one()
    sections = _counts(SectionProgress, SectionProgress.section_id, course.id) \
        if learners else {}
    lessons_done = _counts(LessonProgress, LessonProgress.lesson_id, course.id) \
        if learners else {}
    lessons: list[LessonFigures] = []
    by_section: dict[int, tuple[str, str]] = {}
    for lesson_id, lesson_title, section_id, section_title in outline:
        if not lessons or lessons[-1].id != lesson_id:
            reached, completed = lessons_done.get(lesson_id, (0, 0))
            lessons.append(LessonFigures(lesson_id, lesson_title, reached, completed))
        if section_id is not None:
            reached, completed = sections.get(section_id, (0, 0))
            lessons[-1].sections.append(
                SectionFigures(section_id, section_title, reached, completed))
            by_section[section_id] = (section_title, lesson_title)
    stopped: list[Stop] = []
    if learners:
        last = db.session.execute(
            select(Enrollment.last_section_id, func.count().label("n"))
            .where(Enrollment.course_id == course.id, Enrollment.completed_at.is_(None),
                   Enrollment.last_section_id.is_not(None))
            .group_by(Enrollment.last_section_id)
            .order_by(func.count().desc(), Enrollment.last_section_id)
        ).all()
        # Sections of this course only (a moved section's id would not be in the outline).
        for section_id, n in last:
            if section_id in by_section and len(stopped) < STOPPED_TOP:
                title, lesson_title = by_section[section_id]
                stopped.append(Stop(section_id, title, lesson_title, n))
    return Funnel(learners=learners, finished=finished, lessons=lessons, stopped=stopped)


# --- kept figures (``webapp.services.insight.snapshots``) ---------------------------------

def to_json(figures: Funnel) -> dict:
    return asdict(figures)


def from_json(data: dict) -> Funnel:
    return Funnel(
        learners=data["learners"], finished=data["finished"],
        lessons=[LessonFigures(lesson["id"], lesson["title"], lesson["reached"],
                               lesson["completed"],
                               [SectionFigures(**section) for section in lesson["sections"]])
                 for lesson in data["lessons"]],
        stopped=[Stop(**stop) for stop in data["stopped"]])
