"""The package format's names and limits, and what a package that was read holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from webapp.services.course_format import CourseMeta, LessonSpec, QuizSpec
from webapp.services.exceptions import ValidationFailed

FORMAT = "tangent-course"
FORMAT_VERSION = 1
MANIFEST = "course.json"
LESSON_DIR = "lessons/"
QUIZ_DIR = "quizzes/"
MAX_MODULES = 200
# The front matter a lesson file may add to a lesson of the largest allowed source.
MAX_FRONT_MATTER = 4_000


class PackageInvalid(ValidationFailed):
    """The package cannot be imported; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Sequence[str]) -> None:
        count = len(problems)
        super().__init__(f"The package is not valid ({count} problem{'s' if count != 1 else ''}"
                         "); nothing was imported.")
        self.problems = list(problems)


@dataclass(frozen=True)
class PackageModule:
    title: str
    lessons: tuple[LessonSpec, ...]
    quizzes: tuple[QuizSpec, ...]


@dataclass(frozen=True)
class PackageCourse(CourseMeta):
    """The manifest's course fields, and its modules with their lessons and quizzes."""

    modules: tuple[PackageModule, ...]

    @property
    def lessons(self) -> list[LessonSpec]:
        return [lesson for module in self.modules for lesson in module.lessons]

    @property
    def quizzes(self) -> list[QuizSpec]:
        return [quiz for module in self.modules for quiz in module.quizzes]
