"""Writing a course as a package (zip bytes that are the same for the same content)."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from decimal import Decimal
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Course, Lesson, Module, Question, Quiz
from webapp.services.course_format import MAX_MINUTES
from webapp.services.packages.layout import (
    FORMAT,
    FORMAT_VERSION,
    LESSON_DIR,
    MANIFEST,
    QUIZ_DIR,
)
from webapp.services.quiz_authoring import plain_number

# Fixed timestamps make an export of the same content the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _number(value: Decimal | None) -> str:
    """A Decimal as plain text without exponent or trailing zeros: "2.5", "100", "0"."""
    return plain_number(Decimal(value)) if value is not None else "0"


def _question_data(question: Question) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": question.kind, "prompt": question.prompt,
                            "explanation": question.explanation or "", "points": question.points}
    choices = sorted(question.choices, key=lambda c: c.position)
    if question.kind in ("single", "multiple"):
        data["choices"] = [{"text": c.text, "correct": c.is_correct} for c in choices]
    elif question.kind == "true_false":
        true = next((c for c in choices if c.text == "True"), choices[0] if choices else None)
        data["answer"] = bool(true and true.is_correct)
    elif question.kind == "ordering":
        data["order"] = [c.text for c in choices]
    elif question.kind == "short_text":
        data["accepted"] = sorted(a.text for a in question.accepted_answers)
    else:
        data["answer"] = _number(question.numeric_answer)
        data["tolerance"] = _number(question.tolerance)
    return data


def _quiz_data(quiz: Quiz) -> dict[str, Any]:
    return {
        "key": quiz.key,
        "title": quiz.title,
        "description": quiz.description or "",
        "pass_percent": quiz.pass_percent,
        "max_attempts": quiz.max_attempts,
        "mode": quiz.mode,
        "feedback": quiz.feedback,
        "scoring": quiz.scoring,
        "gradebook_score": quiz.gradebook_score,
        "questions": [_question_data(q) for q in quiz.questions],
    }


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def lesson_file_text(lesson: Lesson) -> str:
    """A lesson as its package file: YAML front matter, then the source as stored."""
    # Minutes are an estimate; keep them within what an import accepts.
    minutes = min(max(lesson.estimated_minutes or 1, 1), MAX_MINUTES)
    meta = {"title": lesson.title, "slug": lesson.slug, "minutes": minutes}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=10**6)
    return f"---\n{front}---\n{lesson.source or ''}"


def export_course(course: Course) -> bytes:
    """The course as a package (zip bytes). Reads only; the caller checks permission."""
    modules = db.session.scalars(
        select(Module).where(Module.course_id == course.id)
        .options(selectinload(Module.lessons)).order_by(Module.position, Module.id)
    ).all()
    quizzes = db.session.scalars(
        select(Quiz).where(Quiz.course_id == course.id).order_by(Quiz.id)
        .options(selectinload(Quiz.questions).selectinload(Question.choices),
                 selectinload(Quiz.questions).selectinload(Question.accepted_answers))
    ).all()
    lesson_count = sum(len(m.lessons) for m in modules)
    width = max(2, len(str(lesson_count)))
    files: list[tuple[str, bytes]] = []
    manifest_modules = []
    number = 0
    for module in modules:
        lesson_paths = []
        for lesson in sorted(module.lessons, key=lambda x: (x.position, x.id)):
            number += 1
            path = f"{LESSON_DIR}{number:0{width}d}-{lesson.slug}.md"
            files.append((path, lesson_file_text(lesson).encode("utf-8")))
            lesson_paths.append(path)
        quiz_paths = []
        for quiz in (q for q in quizzes if q.module_id == module.id):
            path = f"{QUIZ_DIR}{quiz.key}.json"
            files.append((path, _json_bytes(_quiz_data(quiz))))
            quiz_paths.append(path)
        entry: dict[str, Any] = {"title": module.title, "lessons": lesson_paths}
        if len(quiz_paths) > 1:
            entry["quizzes"] = quiz_paths
        else:
            entry["quiz"] = quiz_paths[0] if quiz_paths else None
        manifest_modules.append(entry)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "title": course.title,
        "slug": course.slug,
        "summary": course.summary or "",
        "level": course.level,
        "tags": [tag.name for tag in course.tags],
        "modules": manifest_modules,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, content in [(MANIFEST, _json_bytes(manifest)), *files]:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, content)
    return buffer.getvalue()
