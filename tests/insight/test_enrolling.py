"""Enrolling people by address (pasted or a CSV file) with a report of every line, and
unenrolling one learner: what is refused (an unpublished course, a file too large, not
UTF-8, too many lines), what is kept (progress, attempts, certificate) and the audit."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, Enrollment, SectionProgress, User
from webapp.services import progress
from webapp.services.exceptions import ValidationFailed
from webapp.services.insight import enrolling

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, make_user, make_course):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Loops", owner=owner, modules=1, lessons=1, sections=2)
        draft = make_course("Draft", owner=owner, publish=False)
        make_user("ada@example.org", display_name="Ada")
        make_user("bob@example.org", display_name="Bob")
        make_user("sus@example.org", status="suspended")
        already = make_user("already@example.org")
        progress.enroll(already, course)
        db.session.commit()
        return {"course_id": course.id, "draft_id": draft.id}


@pytest.fixture
def owner(client, login, world):
    assert login(client, "owner@example.org", DEFAULT_PASSWORD).status_code == 303
    return client


def url(world, key="course_id", rest="enroll") -> str:
    return f"/edit/courses/{world[key]}/insight/{rest}"


def token(client, path: str) -> str:
    return CSRF_RE.search(text(client.get(path))).group(1)


def enrolled(app, course_id: int) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(User.email).join(
            Enrollment, Enrollment.user_id == User.id).where(Enrollment.course_id == course_id)))


def post(client, world, **data):
    """POST the enroll form as multipart. The body is encoded here: werkzeug's test client
    spools a large one to a temporary file that it never closes (a ResourceWarning)."""
    data.setdefault("csrf_token", token(client, url(world)))
    values = {key: FileStorage(io.BytesIO(value[0]), value[1]) if isinstance(value, tuple)
              else value for key, value in data.items()}
    boundary, body = encode_multipart(values)
    return client.post(url(world), data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")


def rows_of(page: str) -> list[tuple[str, str]]:
    """(address, result) of each line of the report."""
    return re.findall(r"<tr class=\"enroll-\w+\">\s*<td>\d+</td>\s*<td>(?:<a [^>]*>)?([^<]*)"
                      r"(?:</a>)?</td>\s*<td>([^<]*)</td>", page)


def test_pasted_addresses_get_a_line_by_line_report(app, owner, world):
    response = post(owner, world, addresses=(
        "ada@example.org, ADA@example.org\nbob@example.org; already@example.org\n"
        "nobody@example.org\nnot an address\n\nsus@example.org"))
    assert response.status_code == 200
    assert rows_of(text(response)) == [
        ("ada@example.org", "Enrolled"),
        ("ADA@example.org", "Duplicate line (the address appears earlier)"),
        ("bob@example.org", "Enrolled"),
        ("already@example.org", "Already enrolled"),
        ("nobody@example.org", "No account — ask them to register"),
        ("not an address", "Not a valid email address"),
        ("sus@example.org", "Account not active (suspended, banned or closed)"),
    ]
    assert enrolled(app, world["course_id"]) == {"ada@example.org", "bob@example.org",
                                                 "already@example.org"}
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id)).where(
            User.email == "nobody@example.org")) == 0  # no account made
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "insight.enroll"))
        assert audit.target_id == world["course_id"]
        assert audit.delta["enrolled"] == [None, 2] and audit.delta["lines"] == [None, 7]
        # Each enrollment's own audit row names the editor who did it, and the learner.
        rows = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "enrollment.create",
            AuditEvent.target_id == world["course_id"],
            AuditEvent.actor_id == audit.actor_id)).all()
        learners = {db.session.get(User, row.delta["learner"][1]).email for row in rows}
        assert learners == {"ada@example.org", "bob@example.org"}


def test_a_csv_file_uses_its_email_column(app, owner, world):
    data = b"\xef\xbb\xbfname,Email\nAda,ada@example.org\nBob,bob@example.org\n,\n"
    response = post(owner, world, addresses="", file=(data, "people.csv"))
    assert response.status_code == 200
    assert [r[1] for r in rows_of(text(response))] == ["Enrolled", "Enrolled"]
    assert {"ada@example.org", "bob@example.org"} <= enrolled(app, world["course_id"])


def test_a_csv_file_without_a_header_uses_its_first_column(app, owner, world):
    data = b"ada@example.org,Ada\n\"=cmd|' /C calc'!A0\",x\n"
    response = post(owner, world, file=(data, "people.csv"))
    assert rows_of(text(response)) == [("ada@example.org", "Enrolled"),
                                       ("=cmd|&#39; /C calc&#39;!A0", "Not a valid email address")]


@pytest.mark.parametrize(("data", "message"), [
    (b"a@example.org\n" * 150_000, "larger than 1 MB"),
    ("ad\u00e9@example.org\n".encode("latin-1"), "not UTF-8"),
    (b"a@example.org\x00\n", "NUL characters"),
    (b"x@example.org\n" * 5_001, "more than 5,000 lines"),
])
def test_bad_files_are_refused_with_a_clear_message(app, owner, world, data, message):
    response = post(owner, world, file=(data, "people.csv"))
    assert response.status_code == 400
    assert message in text(response)
    assert enrolled(app, world["course_id"]) == {"already@example.org"}


def test_too_many_or_no_pasted_addresses_are_refused(owner, world):
    response = post(owner, world, addresses="\n".join(f"u{n}@example.org" for n in range(5001)))
    assert response.status_code == 400 and "at most 5,000 addresses" in text(response)
    response = post(owner, world, addresses=" , ;\n")
    assert response.status_code == 400 and "Paste at least one email address" in text(response)


def test_nul_bytes_and_a_missing_token_are_400s(owner, world):
    assert post(owner, world, addresses="a@example.org\x00").status_code == 400
    assert owner.post(url(world), data={"addresses": "ada@example.org"}).status_code == 400


def test_an_unpublished_course_says_so(app, owner, world):
    page = text(owner.get(url(world, "draft_id")))
    assert "This course is not published" in page and "disabled" in page
    response = owner.post(url(world, "draft_id"), data={
        "csrf_token": token(owner, url(world, "draft_id")), "addresses": "ada@example.org"})
    assert response.status_code == 409 and "This course is not published" in text(response)
    assert enrolled(app, world["draft_id"]) == set()


def test_enrolling_checks_the_editor_itself(app, world):
    with app.app_context():
        from webapp.models import Course
        stranger = db.session.scalar(select(User).where(User.email == "ada@example.org"))
        with pytest.raises(Exception) as refused:
            enrolling.enroll_addresses(stranger, db.session.get(Course, world["course_id"]),
                                       ["bob@example.org"])
        assert refused.value.status == 404


def test_parse_pasted_splits_on_lines_commas_and_semicolons():
    assert enrolling.parse_pasted("a@x.org,b@x.org;c@x.org\r\n d@x.org \n\n") == [
        "a@x.org", "b@x.org", "c@x.org", "d@x.org"]
    with pytest.raises(ValidationFailed):
        enrolling.parse_pasted("a" * 1_000_001)


# --- unenrolling -----------------------------------------------------------------------------


def test_unenrolling_says_what_stays_then_removes_only_the_enrollment(app, owner, world):
    with app.app_context():
        learner = db.session.scalar(select(User).where(User.email == "already@example.org"))
        from webapp.models import Course
        course = db.session.get(Course, world["course_id"])
        progress.complete_section(learner, course.modules[0].lessons[0].sections[0].id)
        db.session.commit()
        learner_id = learner.id
    path = url(world, rest=f"learners/{learner_id}/unenroll")
    page = text(owner.get(path))
    assert "will no longer be enrolled" in page
    assert "1 completed section;" in page and "0 quiz attempts;" in page
    assert "resume where they were" in page
    response = owner.post(path, data={"csrf_token": token(owner, path)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(url(world, rest="learners"))
    assert "already@example.org" not in enrolled(app, world["course_id"])
    with app.app_context():
        assert db.session.scalar(select(func.count(SectionProgress.id)).where(
            SectionProgress.user_id == learner_id)) == 1  # progress kept
        audit = db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "insight.unenroll"))
        assert audit.delta == {"learner": [learner_id, None]}
    # Twice: nothing left to remove.
    assert owner.get(path).status_code == 404
    assert owner.post(path, data={"csrf_token": token(owner, url(world))}).status_code == 404


def test_unenrolling_needs_the_token(app, owner, world):
    with app.app_context():
        learner_id = db.session.scalar(select(User.id).where(User.email == "already@example.org"))
    response = owner.post(url(world, rest=f"learners/{learner_id}/unenroll"))
    assert response.status_code == 400
    assert "already@example.org" in enrolled(app, world["course_id"])
