"""Course packages: a course exported as a zip file, and imported back.

Layout (nothing else is accepted; directory entries for the two folders are
allowed)::

    course.json            the manifest, a JSON object:
                           {"format": "tangent-course", "format_version": 1,
                            "title": "…", "slug": "…", "summary": "…",
                            "level": "beginner|intermediate|advanced", "tags": ["…"],
                            "modules": [{"title": "…",
                                         "lessons": ["lessons/01-intro.md", …],
                                         "quiz": "quizzes/<key>.json" or null}]}
    lessons/NN-<slug>.md   one lesson: YAML front matter between two ``---`` lines
                           (``title``, ``slug``, optional ``minutes``), then the
                           Markdown source exactly as stored
    quizzes/<key>.json     one quiz, with the fields the demo ``course.toml`` uses
                           (see ``webapp.services.course_format``): key, title,
                           description, pass_percent, max_attempts (null: unlimited),
                           mode, feedback, scoring, gradebook_score (each optional,
                           with the defaults "graded", "after_submit",
                           "all_or_nothing", "best"),
                           questions [{kind, prompt, explanation, points, and by
                           kind choices [{text, correct}] | answer | accepted |
                           order | answer + tolerance}]

Numeric answers and tolerances are written as strings ("2.5"), so no binary
float ever touches them. A module with several quizzes lists them as
``"quizzes": ["quizzes/a.json", …]`` instead of ``"quiz"``. Every file must be
listed in the manifest exactly once, and every file the manifest names must be
there. Lesson slugs and quiz keys are unique in the course. Not in a package:
prerequisites (they name other courses), revision history and anything about
learners.

Limits: 500 members and 200 modules; a lesson file holds at most
``authoring.MAX_SOURCE_BYTES`` of source plus 4 KB of front matter, a JSON file
1 MB, the whole package 20 MB (packed and unpacked); a member over 1 KB that is
compressed more than 100:1 is refused. Sizes in the zip headers are never
trusted: every member is read with a bounded read.

Reading (``read_package``) checks everything and writes nothing: unsafe member
names (absolute, ``..``, backslashes, drive letters, NUL), symlinks, too many
members, oversized or suspiciously compressed members (zip bombs), duplicates,
bad UTF-8, JSON or YAML, and every content rule. It reports *all* the problems
it finds in ``PackageInvalid.problems``. ``import_new`` and ``replace_draft``
then write in the caller's transaction (flush only; the caller commits).

One module per step: ``layout`` (the format's names and what a read package
holds), ``export``, ``archive`` (the zip container and its limits), ``reading``
(the files) and ``importing`` (writing a package into a course). What callers
use is importable from here.
"""

from webapp.services.packages.archive import MAX_PACKAGE_BYTES
from webapp.services.packages.export import export_course, lesson_file_text
from webapp.services.packages.importing import import_new, replace_draft, replace_problem
from webapp.services.packages.layout import PackageCourse, PackageInvalid, PackageModule
from webapp.services.packages.reading import parse_lesson_file, read_package

__all__ = [
    "MAX_PACKAGE_BYTES",
    "PackageCourse",
    "PackageInvalid",
    "PackageModule",
    "export_course",
    "import_new",
    "lesson_file_text",
    "parse_lesson_file",
    "read_package",
    "replace_draft",
    "replace_problem",
]
