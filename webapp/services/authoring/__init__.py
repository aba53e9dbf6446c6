"""Authoring: who may edit a course, saving lessons and course metadata with
revisions and conflicts, the outline, publishing, co-editors and re-rendering.

Every save is a compare-and-set on the row's ``version`` (the version the edit
form started from): a stale save raises ``EditConflict`` carrying both texts,
so nobody's work is silently lost. Each save writes one revision event holding
only the delta, and an audit row, in the caller's transaction.

One module per concern; everything public is importable from this package:

- ``access``: who may edit (``can_edit``, ``require_editor``) and loading for edit
- ``checks``: limits and checks on titles, lesson text and tags
- ``revisions``: compare-and-set, ``EditConflict``, paging through history
- ``lessons``: previews, saves, restores and re-rendering of lessons
- ``metadata``: creating and saving course metadata
- ``publishing``: publish checks, publish and unpublish
- ``outline``: modules and lessons, their order, adding and deleting
- ``editors``: co-editors
"""

from webapp.services.authoring.access import (
    CoursePage,
    can_edit,
    can_manage,
    editable_courses,
    get_course_for_edit,
    get_lesson_for_edit,
    get_module_for_edit,
    require_editor,
)
from webapp.services.authoring.checks import (
    MAX_SOURCE_BYTES,
    MAX_SUMMARY,
    MAX_TAGS,
    MAX_TITLE,
    PAGE_SIZE,
    check_source,
    check_title,
    parse_tags,
)
from webapp.services.authoring.editors import co_editors, invite_editor, remove_editor
from webapp.services.authoring.lessons import (
    Preview,
    get_lesson_revision,
    lesson_revisions,
    lesson_text_at,
    preview_lesson,
    record_lesson_revision,
    rerender_lessons,
    restore_lesson,
    save_lesson,
)
from webapp.services.authoring.metadata import (
    course_fields_at,
    course_revisions,
    create_course,
    restore_course,
    update_course,
)
from webapp.services.authoring.outline import (
    STARTER_SOURCE,
    DeleteImpact,
    add_lesson,
    add_module,
    delete_lesson,
    delete_module,
    enrolled_count,
    lesson_delete_impact,
    module_delete_impact,
    move_lesson,
    move_lesson_to_module,
    move_module,
    rename_module,
    renumber,
)
from webapp.services.authoring.publishing import publish, publish_problems, unpublish
from webapp.services.authoring.revisions import EditConflict, RevisionPage

__all__ = [
    "MAX_SOURCE_BYTES",
    "MAX_SUMMARY",
    "MAX_TAGS",
    "MAX_TITLE",
    "PAGE_SIZE",
    "STARTER_SOURCE",
    "CoursePage",
    "DeleteImpact",
    "EditConflict",
    "Preview",
    "RevisionPage",
    "add_lesson",
    "add_module",
    "can_edit",
    "can_manage",
    "check_source",
    "check_title",
    "co_editors",
    "course_fields_at",
    "course_revisions",
    "create_course",
    "delete_lesson",
    "delete_module",
    "editable_courses",
    "enrolled_count",
    "get_course_for_edit",
    "get_lesson_for_edit",
    "get_lesson_revision",
    "get_module_for_edit",
    "invite_editor",
    "lesson_delete_impact",
    "lesson_revisions",
    "lesson_text_at",
    "module_delete_impact",
    "move_lesson",
    "move_lesson_to_module",
    "move_module",
    "parse_tags",
    "preview_lesson",
    "publish",
    "publish_problems",
    "record_lesson_revision",
    "remove_editor",
    "rename_module",
    "renumber",
    "require_editor",
    "rerender_lessons",
    "restore_course",
    "restore_lesson",
    "save_lesson",
    "unpublish",
    "update_course",
]
