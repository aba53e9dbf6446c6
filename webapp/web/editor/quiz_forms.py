"""Forms of the quiz editor. They parse what was typed; the service validates it.

A question form is one class for every kind; the fields a kind does not use
are removed (``QuestionForm.for_kind``). Choice rows are a fixed number of
text inputs (``choice-1`` … ``choice-N``) with one ``correct`` input per row,
radio buttons for single choice and checkboxes for multiple choice, so any
number of choices up to the limit works without JavaScript; blank rows are
ignored. Ordering items and short-text answers are one per line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict
from wtforms import (
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional, ValidationError

from webapp.models import Question, Quiz
from webapp.services import quiz_authoring as qa
from webapp.services.quizzes import QuestionSpec
from webapp.web.question_text import question_inline

KIND_LABELS = {
    "single": "Single choice",
    "multiple": "Multiple choice",
    "true_false": "True or false",
    "short_text": "Short text answer",
    "numeric": "Number",
    "ordering": "Put in order",
}
KIND_HELP = {
    "single": "Learners pick one of several choices; exactly one is correct.",
    "multiple": "Learners tick every correct choice; one or more are correct.",
    "true_false": "Learners decide whether a statement is true.",
    "short_text": "Learners type a word or phrase, compared without regard to case or spacing.",
    "numeric": "Learners type a number; answers within the tolerance count.",
    "ordering": "Learners put items in the right order.",
}
# How a quiz checks answers: the form's one choice for the quiz's mode and feedback.
POLICIES = {
    "graded": ("graded", "after_submit"),
    "graded_last_attempt": ("graded", "after_last_attempt"),
    "practice": ("practice", "after_submit"),
}
POLICY_CHOICES = [
    SelectChoice("graded", "Graded: answers are checked when the learner submits; then they "
                 "see which were right, with your explanations."),
    SelectChoice("graded_last_attempt", "Graded, feedback held back: after each attempt "
                 "learners see only their score; which answers were right, with your "
                 "explanations, after their last attempt. Needs a limit on attempts."),
    SelectChoice("practice", "Practice: learners may check any answer before submitting, "
                 "and see its explanation. Easy to pass: use it for warm-ups."),
]
SCORING_CHOICES = [
    SelectChoice("all_or_nothing", "All or nothing: the points only for exactly the correct "
                 "choices."),
    SelectChoice("proportional", "Partial credit: part of the points for a partly right "
                 "answer."),
]
SCORING_HELP = (
    "For multiple-choice questions; the other kinds have one right answer. Partial credit "
    "is points × (correct choices ticked − wrong choices ticked) ÷ correct choices, never "  # noqa: RUF001
    "below 0, rounded down to hundredths of a point. Example: a 2-point question with 3 "
    "correct choices; ticking 2 of them and 1 wrong one earns 2 × (2 − 1) ÷ 3 = 0.66 points."  # noqa: RUF001
)
GRADEBOOK_CHOICES = [
    SelectChoice("best", "The best attempt: learners may try again without risk."),
    SelectChoice("last", "The last attempt: what the learner knows now counts."),
]
CHOICE_ROWS = 8
NUMBER_INPUT_MAX = 40
# What each kind's form shows besides prompt, explanation and points.
_KIND_FIELDS = {
    "single": set(),
    "multiple": set(),
    "true_false": {"truth"},
    "short_text": {"accepted"},
    "numeric": {"numeric_answer", "tolerance"},
    "ordering": {"items"},
}
_OPTIONAL_FIELDS = {"truth", "accepted", "items", "numeric_answer", "tolerance"}


class QuizSettingsForm(FlaskForm):
    title = StringField("Title", validators=[InputRequired(message="Give the quiz a title.")])
    key = StringField(
        "Quiz id", validators=[Optional()],
        description="Lessons embed the quiz with <Quiz id=\"…\"/>. Lower-case letters, digits "
        "and hyphens; leave it empty to make one from the title.",
    )
    description = TextAreaField(
        "Description", validators=[Optional()],
        description=f"Shown before learners start (at most {qa.MAX_DESCRIPTION} characters).",
    )
    pass_percent = IntegerField(
        "Pass mark (%)", default=70,
        validators=[InputRequired(message="Give the pass mark, from 0 to 100.")],
        render_kw={"min": 0, "max": 100},
        description="The score, in percent, that passes the quiz.",
    )
    max_attempts = IntegerField(
        "Attempts allowed", validators=[Optional()], render_kw={"min": 1},
        description="Leave it empty for unlimited attempts. The best score counts.",
    )
    policy = RadioField(
        "Checking and feedback", choices=POLICY_CHOICES, default="graded",
        description="Certificates need every quiz of the course passed: a practice quiz "
        "lets learners find the right answers before they submit.",
    )
    scoring = RadioField("Multiple-choice scoring", choices=SCORING_CHOICES,
                         default="all_or_nothing", description=SCORING_HELP)
    gradebook_score = RadioField(
        "The gradebook shows", choices=GRADEBOOK_CHOICES, default="best",
        description="Which submitted attempt counts in the course's gradebook and its CSV.")
    # What the form was loaded from; a save over someone else's newer change is a conflict.
    fingerprint = HiddenField()

    @classmethod
    def from_quiz(cls, quiz: Quiz) -> QuizSettingsForm:
        policy = next((name for name, pair in POLICIES.items()
                       if pair == (quiz.mode, quiz.feedback)), "graded")
        return cls(formdata=None, title=quiz.title, key=quiz.key,
                   description=quiz.description, pass_percent=quiz.pass_percent,
                   max_attempts=quiz.max_attempts, policy=policy, scoring=quiz.scoring,
                   gradebook_score=quiz.gradebook_score,
                   fingerprint=qa.quiz_fingerprint(quiz))

    def policy_fields(self) -> dict[str, str]:
        """``mode``, ``feedback``, ``scoring`` and ``gradebook_score`` for the service
        (after ``validate``)."""
        mode, feedback = POLICIES.get(self.policy.data or "", POLICIES["graded"])
        return {"mode": mode, "feedback": feedback,
                "scoring": self.scoring.data or "all_or_nothing",
                "gradebook_score": self.gradebook_score.data or "best"}

    def field_name_for(self, name: str | None) -> str | None:
        """The name of the form field a service error names (mode and feedback are one
        field here, ``policy``)."""
        return "policy" if name in ("mode", "feedback") else name


class NewQuizForm(QuizSettingsForm):
    # A select always has a value; "required" on it would need a blank first option.
    module_id = SelectField("Module", coerce=int, validators=[InputRequired()],
                            render_kw={"required": False})


def plain_number(value: Decimal | None) -> str:
    """A stored number as an editor would type it (``3.14``, not ``3.140000``)."""
    return qa.plain_number(value) or ""


def parse_number(text: str, what: str) -> Decimal:
    """A Decimal from what was typed, or ValidationError saying how to write it."""
    text = (text or "").strip()
    if len(text) > NUMBER_INPUT_MAX:
        raise ValidationError(f"The {what} is too long to be a number.")
    try:
        number = Decimal(text)
    except InvalidOperation:
        if "," in text:
            raise ValidationError(f"“{text[:20]}” is not a number: write decimals with a point "
                                  "(3.5, not 3,5) and no thousands separators.") from None
        raise ValidationError(f"“{text[:20]}” is not a number.") from None
    if not number.is_finite():
        raise ValidationError(f"The {what} must be a finite number.")
    return number


@dataclass
class ChoiceRow:
    number: int
    text: str = ""
    correct: bool = False


@dataclass
class ChoiceRows:
    """The choice rows of a single- or multiple-choice form, as typed."""

    rows: list[ChoiceRow]
    errors: list[str] = field(default_factory=list)

    @classmethod
    def empty(cls, count: int = CHOICE_ROWS) -> ChoiceRows:
        return cls([ChoiceRow(n) for n in range(1, count + 1)])

    @classmethod
    def from_question(cls, question: Question) -> ChoiceRows:
        choices = sorted(question.choices, key=lambda c: c.position)
        rows = [ChoiceRow(n, c.text, bool(c.is_correct)) for n, c in enumerate(choices, 1)]
        return cls(rows + cls._blank(len(rows)))

    @classmethod
    def from_form(cls, formdata: MultiDict) -> ChoiceRows:
        correct = set(formdata.getlist("correct"))
        rows = []
        for n in range(1, qa.MAX_CHOICES + 1):
            key = f"choice-{n}"
            if key not in formdata and n > CHOICE_ROWS:
                break
            rows.append(ChoiceRow(n, (formdata.get(key) or "")[:qa.MAX_CHOICE * 2],
                                  str(n) in correct))
        return cls(rows)

    @staticmethod
    def _blank(filled: int) -> list[ChoiceRow]:
        """Room for more: at least CHOICE_ROWS rows and two blank ones, up to the limit."""
        total = min(qa.MAX_CHOICES, max(CHOICE_ROWS, filled + 2))
        return [ChoiceRow(n) for n in range(filled + 1, total + 1)]

    def pairs(self) -> list[tuple[str, bool]]:
        return [(row.text, row.correct) for row in self.rows]


class QuestionForm(FlaskForm):
    prompt = TextAreaField(
        "Question", render_kw={"rows": 5},
        validators=[InputRequired(message="Write the question.")],
        description="Markdown, like lessons, and so are the choices and the explanation: "
        "put code between backticks (`len(items)`), and longer code in a block with ``` on "
        "the lines above and below. Press Preview to see it as learners will.",
    )
    explanation = TextAreaField(
        "Explanation", validators=[Optional()],
        description="Optional. Shown with the feedback: when a learner checks an answer "
        "in a practice quiz, or on the result page when the quiz's settings allow.",
    )
    points = IntegerField("Points", default=1, render_kw={"min": 1, "max": qa.MAX_POINTS},
                          validators=[InputRequired(message="Give the points, from 1 to "
                                                            f"{qa.MAX_POINTS}.")])
    truth = RadioField("The statement is",
                       choices=[SelectChoice("true", "True"), SelectChoice("false", "False")],
                       validate_choice=False)
    accepted = TextAreaField(
        "Accepted answers", render_kw={"rows": 5},
        description="One per line. Capital letters and extra spaces do not matter.",
    )
    items = TextAreaField(
        "Items in the correct order", render_kw={"rows": 6},
        description=f"One per line, first to last (2 to {qa.MAX_CHOICES}). Learners see them "
        "shuffled.",
    )
    numeric_answer = StringField(
        "Answer", render_kw={"inputmode": "decimal", "maxlength": NUMBER_INPUT_MAX},
        description="A number, with a point for decimals: 3.14",
    )
    tolerance = StringField(
        "Tolerance", default="0",
        render_kw={"inputmode": "decimal", "maxlength": NUMBER_INPUT_MAX},
        description="Answers this far from the answer or closer count as correct. "
        "0: only the exact answer.",
    )
    fingerprint = HiddenField()

    @classmethod
    def for_kind(cls, kind: str, **kwargs) -> QuestionForm:
        """The form with only the fields this kind of question uses."""
        form = cls(**kwargs)
        for name in _OPTIONAL_FIELDS - _KIND_FIELDS[kind]:
            delattr(form, name)
        form.kind = kind
        return form

    @classmethod
    def from_question(cls, question: Question) -> QuestionForm:
        choices = sorted(question.choices, key=lambda c: c.position)
        data: dict[str, object] = {
            "prompt": question.prompt, "explanation": question.explanation,
            "points": question.points, "fingerprint": qa.question_fingerprint(question),
        }
        if question.kind == "true_false":
            true_choice = next((c for c in choices if c.text == "True"), None)
            data["truth"] = "true" if true_choice and true_choice.is_correct else "false"
        elif question.kind == "short_text":
            data["accepted"] = "\n".join(sorted(a.text for a in question.accepted_answers))
        elif question.kind == "ordering":
            data["items"] = "\n".join(c.text for c in choices)
        elif question.kind == "numeric":
            data["numeric_answer"] = plain_number(question.numeric_answer)
            data["tolerance"] = plain_number(question.tolerance)
        return cls.for_kind(question.kind, formdata=None, data=data)

    def validate_truth(self, field) -> None:
        if field.data not in ("true", "false"):
            raise ValidationError("Choose whether the statement is true or false.")

    def validate_numeric_answer(self, field) -> None:
        if not (field.data or "").strip():
            raise ValidationError("Give the correct answer as a number.")
        parse_number(field.data, "answer")

    def validate_tolerance(self, field) -> None:
        if (field.data or "").strip():
            parse_number(field.data, "tolerance")

    def to_spec(self, rows: ChoiceRows | None = None) -> QuestionSpec:
        """The question as typed, for the service to check (call after ``validate``)."""
        kind = self.kind
        spec = QuestionSpec(kind=kind, prompt=self.prompt.data or "",
                            explanation=self.explanation.data or "",
                            points=self.points.data or 0)
        if kind in ("single", "multiple"):
            return _with(spec, choices=rows.pairs() if rows else ())
        if kind == "true_false":
            truth = self.truth.data == "true"
            return _with(spec, choices=(("True", truth), ("False", not truth)))
        if kind == "ordering":
            return _with(spec, choices=[(line, False) for line in _lines(self.items.data)])
        if kind == "short_text":
            return _with(spec, accepted=_lines(self.accepted.data))
        tolerance = (self.tolerance.data or "").strip()
        return _with(spec, numeric_answer=parse_number(self.numeric_answer.data, "answer"),
                     tolerance=parse_number(tolerance, "tolerance") if tolerance else Decimal(0))

    def field_for(self, name: str | None):
        """The form field a service error belongs on (choices of ordering are its items)."""
        if name == "choices":
            name = {"ordering": "items", "true_false": "truth"}.get(self.kind, name)
        return self[name] if name and name in self else None


def _with(spec: QuestionSpec, **changes) -> QuestionSpec:
    return replace(spec, **changes)


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def answer_summary(question: Question) -> Markup:
    """The right answer in a few words, for the question list (choices rendered as
    learners see them, so code reads as code)."""
    choices = sorted(question.choices, key=lambda c: c.position)
    if question.kind == "ordering":
        return escape("Order: ") + escape(" → ").join(question_inline(c.text) for c in choices)
    if question.kind == "short_text":
        return escape("Accepted: " + "; ".join(sorted(a.text for a in question.accepted_answers)))
    if question.kind == "numeric":
        answer = f"Answer: {plain_number(question.numeric_answer)}"
        if question.tolerance:
            answer += f" ± {plain_number(question.tolerance)}"
        return escape(answer)
    correct = [question_inline(c.text) for c in choices if c.is_correct]
    listed = escape(", ").join(correct) if correct else escape("none")
    return escape("Correct: ") + listed + escape(f" (of {len(choices)} choices)")
