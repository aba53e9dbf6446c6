"""Registration and the sign-in form's ``next`` redirect."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import User


@pytest.fixture
def register(csrf_token):
    def register_(client, email: str, password: str = DEFAULT_PASSWORD, **extra):
        data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/register")}
        return client.post("/register", data=data | extra)

    return register_


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def test_registration_signs_in(app, client, register):
    response = register(client, "New.Person@Example.org", display_name="New Person")
    assert response.status_code == 303
    page = client.get("/account/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "new.person@example.org" in text
    assert "New Person" in text


def test_duplicate_email_in_other_case_is_a_conflict_on_the_form(app, client, register):
    with app.app_context():
        make_user("ada@example.org")
    response = register(client, "ADA@Example.ORG")
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "An account with this email already exists." in text
    assert 'name="email"' in text
    assert user_count(app) == 1
    assert client.get("/account/").status_code == 302


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("not-an-email", DEFAULT_PASSWORD, "email", "@"),
        ("", DEFAULT_PASSWORD, "email", "This field is required."),
        ("short@example.org", "short", "password", "Use at least 8 characters."),
    ],
    ids=["invalid-email", "missing-email", "short-password"],
)
def test_bad_input_is_400_with_the_error_on_its_field(app, client, email, password, field,
                                                     message, register):
    response = register(client, email, password)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    error = text.split(f'id="{field}-error"', 1)
    assert len(error) == 2, f"no error shown on {field}"
    assert message in error[1].split("</small>", 1)[0]
    assert 'aria-invalid="true"' in text
    assert user_count(app) == 0


def test_signed_in_user_visiting_register_goes_home(app, client, register):
    register(client, "someone@example.org")
    response = client.get("/register")
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/account/", "/account/"),
        ("/courses/?page=2", "/courses/?page=2"),
        ("https://evil.example/phish", "/dashboard"),
        ("//evil.example/phish", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("\\\\evil.example", "/dashboard"),
        ("/\t/evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        ("", "/dashboard"),
    ],
    ids=["path", "query", "absolute", "scheme-relative", "backslash", "double-backslash",
         "tab", "javascript", "empty"],
)
def test_login_redirects_only_to_paths_on_this_site(app, client, next_url, expected, csrf_token):
    with app.app_context():
        make_user("ada@example.org")
    token = csrf_token(client, "/login")
    response = client.post("/login", data={
        "email": "ada@example.org", "password": DEFAULT_PASSWORD, "next": next_url,
        "csrf_token": token,
    })
    assert response.status_code == 303
    location = response.headers["Location"]
    assert not urlsplit(location).netloc
    assert location == expected


def test_next_survives_the_round_trip_through_the_login_form(app, client, csrf_token):
    with app.app_context():
        make_user("ada@example.org")
    redirect_to_login = client.get("/account/")
    form_page = client.get(redirect_to_login.headers["Location"]).get_data(as_text=True)
    hidden = re.search(r'name="next" type="hidden" value="([^"]*)"', form_page)
    assert hidden and hidden.group(1) == "/account/"
    response = client.post("/login", data={
        "email": "ada@example.org", "password": DEFAULT_PASSWORD, "next": hidden.group(1),
        "csrf_token": csrf_token(client),
    })
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/"
