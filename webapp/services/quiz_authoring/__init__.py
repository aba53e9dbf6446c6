"""The quiz editor: quizzes per module, and their questions of every kind.

What makes a question answerable lives in ``content.questions``; this
module adds what an editor's form needs on top (length limits, blank or
duplicate entries, numbers the database can hold) and names the field at fault
in every ``ValidationFailed``, so a form can show the message next to it.

Quizzes carry no version column, so an edit form sends back a fingerprint of
what it was loaded from; a save over someone else's newer change is a
``Conflict`` rather than a silent overwrite. Every write is audited in the
caller's transaction; the caller commits.

One module per concern, all re-exported here: ``lookup`` (loading for edit,
summaries and usage counts), ``quiz_settings``, ``question_checks`` (what a
form may submit) and ``question_edits`` (adding, changing, moving, deleting).
"""

from webapp.services.quiz_authoring.lookup import (
    QuestionUsage,
    QuizSummary,
    QuizUsage,
    course_quiz_summaries,
    get_question_for_edit,
    get_quiz_for_edit,
    lessons_embedding,
    question_usage,
    quiz_usage,
)
from webapp.services.quiz_authoring.question_checks import (
    MAX_ACCEPTED,
    MAX_ACCEPTED_ANSWERS,
    MAX_CHOICE,
    MAX_CHOICES,
    MAX_EXPLANATION,
    MAX_POINTS,
    MAX_PROMPT,
    NUMBER_LIMIT,
    NUMBER_PLACES,
    check_question,
    plain_number,
    question_fingerprint,
)
from webapp.services.quiz_authoring.question_edits import (
    DIRECTIONS,
    MAX_QUESTIONS,
    add_question,
    delete_question,
    move_question,
    update_question,
)
from webapp.services.quiz_authoring.quiz_settings import (
    MAX_ATTEMPTS_ALLOWED,
    MAX_DESCRIPTION,
    MAX_KEY,
    MAX_QUIZ_TITLE,
    QuizSettings,
    check_quiz_settings,
    create_quiz_in_module,
    delete_quiz,
    quiz_fingerprint,
    update_quiz_settings,
)

__all__ = [
    "DIRECTIONS",
    "MAX_ACCEPTED",
    "MAX_ACCEPTED_ANSWERS",
    "MAX_ATTEMPTS_ALLOWED",
    "MAX_CHOICE",
    "MAX_CHOICES",
    "MAX_DESCRIPTION",
    "MAX_EXPLANATION",
    "MAX_KEY",
    "MAX_POINTS",
    "MAX_PROMPT",
    "MAX_QUESTIONS",
    "MAX_QUIZ_TITLE",
    "NUMBER_LIMIT",
    "NUMBER_PLACES",
    "QuestionUsage",
    "QuizSettings",
    "QuizSummary",
    "QuizUsage",
    "add_question",
    "check_question",
    "check_quiz_settings",
    "course_quiz_summaries",
    "create_quiz_in_module",
    "delete_question",
    "delete_quiz",
    "get_question_for_edit",
    "get_quiz_for_edit",
    "lessons_embedding",
    "move_question",
    "plain_number",
    "question_fingerprint",
    "question_usage",
    "quiz_fingerprint",
    "quiz_usage",
    "update_question",
    "update_quiz_settings",
]
