"""``tangent content``: export and import course packages; re-render stored lesson HTML."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from webapp.cli.common import (
    course_by_slug,
    fail_on_domain_error,
    needs_schema,
    plural,
    user_by_email,
)


@click.group()
def content() -> None:
    """Export and import course packages; re-render stored lesson HTML."""


@content.command("export")
@click.argument("course_slug")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the zip (default: COURSE_SLUG.zip here).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@with_appcontext
@needs_schema
@fail_on_domain_error
def content_export(course_slug: str, output: Path | None, force: bool) -> None:
    """Write the course COURSE_SLUG (any status) as a course package."""
    from webapp.services import packages

    course = course_by_slug(course_slug)
    output = output or Path(f"{course.slug}.zip")
    data = packages.export_course(course)
    try:
        with open(output, "wb" if force else "xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise click.ClickException(f"{output} exists; use --force to overwrite it") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"Exported {course.slug} to {output} ({len(data):,} bytes).")


@content.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "email", required=True, metavar="EMAIL",
              help="The editor or admin account that owns the import.")
@click.option("--replace", "replace_slug", metavar="COURSE_SLUG",
              help="Replace this draft course instead of creating a new one.")
@with_appcontext
@needs_schema
@fail_on_domain_error
def content_import(file: Path, email: str, replace_slug: str | None) -> None:
    """Import the course package FILE as a new draft (or into a draft with --replace)."""
    from webapp.extensions import db
    from webapp.services import packages

    actor = user_by_email(email)
    if not actor.is_editor:
        raise click.ClickException(f"{actor.email} is a {actor.role}; imports need an editor "
                                   "or admin account")
    course = course_by_slug(replace_slug) if replace_slug else None
    try:
        with open(file, "rb") as handle:
            data = handle.read(packages.MAX_PACKAGE_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    try:
        package = packages.read_package(data)
    except packages.PackageInvalid as exc:
        report = "\n".join(f"  - {problem}" for problem in exc.problems)
        raise click.ClickException(f"{file}: {exc.message}\n{report}") from None
    if course is None:
        course = packages.import_new(actor, package)
        note = f" (the slug {package.slug!r} was taken)" if course.slug != package.slug else ""
        verb = f"Imported {file} as the new draft {course.slug}{note}"
    else:
        packages.replace_draft(actor, course, package)
        verb = f"Replaced the draft {course.slug} from {file}"
    db.session.commit()
    click.echo(f"{verb}: {plural(len(package.modules), 'module')}, "
               f"{plural(len(package.lessons), 'lesson')}, "
               f"{plural(len(package.quizzes), 'quiz', 'quizzes')}.")


@content.command("rerender")
@click.option("--all", "everything", is_flag=True,
              help="Re-render every lesson, not only those made by an older renderer.")
@with_appcontext
@needs_schema
@fail_on_domain_error
def content_rerender(everything: bool) -> None:
    """Rebuild stored lesson HTML after a renderer or sanitizer change, in batches."""
    from webapp.extensions import db
    from webapp.services import authoring

    total, last = 0, 0
    while True:
        done = authoring.rerender_lessons(everything=everything, after_id=last)
        if not done:
            break
        db.session.commit()
        total += len(done)
        last = done[-1]
    click.echo(f"Re-rendered {plural(total, 'lesson')}.")
