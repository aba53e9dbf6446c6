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


def _confirm(client, link: str):
    """Open a mailed link (a page with a button) and press the button."""
    path = urlsplit(link).path
    page = client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      page.get_data(as_text=True)).group(1)
    return client.post(path, data={"csrf_token": token})


def _shape(response, email: str) -> str:
    """The page with the address taken out, to compare answers for two addresses."""
    text = response.get_data(as_text=True)
    text = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", text)
    return text.replace(email, "EMAIL")


def test_registration_mails_a_link_that_confirms_the_address_and_signs_in(
        app, client, register, smtp_server):
    response = register(client, "New.Person@Example.org", display_name="New Person")
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert "new.person@example.org" in response.get_data(as_text=True)
    assert client.get("/account/").status_code == 302  # not signed in before the link
    [message] = smtp_server.messages
    assert message["To"] == "new.person@example.org"
    [link] = [url for url in smtp_server.sink.links() if "/verify-email/" in url]
    assert _confirm(client, link).status_code == 303
    page = client.get("/account/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "new.person@example.org" in text and "New Person" in text
    assert "It is confirmed." in text


def test_the_chosen_password_signs_in_before_the_link_is_opened(app, client, register, login,
                                                               smtp_server):
    register(client, "someone@example.org")
    assert login(client, "someone@example.org").status_code == 303
    assert client.get("/account/").status_code == 200


def test_a_taken_address_gets_the_same_answer_and_its_owner_a_notice(app, client, register,
                                                                    smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    taken = register(client, "ADA@Example.ORG")
    fresh = register(app.test_client(), "bob@example.org")
    assert taken.status_code == fresh.status_code == 200
    assert _shape(taken, "ada@example.org") == _shape(fresh, "bob@example.org")
    assert "already exists" not in taken.get_data(as_text=True)
    assert user_count(app) == 2
    assert client.get("/account/").status_code == 302
    to_owner = [m for m in smtp_server.messages if m["To"] == "ada@example.org"]
    assert len(to_owner) == 1
    assert "tried to create a Tangent account" in to_owner[0]["Subject"]
    assert "/forgot-password" in to_owner[0].get_body(("plain",)).get_content()


def test_repeated_attempts_on_a_taken_address_mail_its_owner_once_an_hour(app, register,
                                                                         smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    for _ in range(3):
        assert register(app.test_client(), "ada@example.org").status_code == 200
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("not-an-email", DEFAULT_PASSWORD, "email", "@"),
        ("", DEFAULT_PASSWORD, "email", "This field is required."),
        ("short@example.org", "short pw", "password", "Use at least 10 characters."),
        ("weak@example.org", "password1234", "password", "This is a very common password."),
        ("weak@example.org", "qwertyuiop", "password", "too easy to guess"),
        ("maria.lopez@example.org", "maria.lopez@example.org", "password", "too easy to guess"),
    ],
    ids=["invalid-email", "missing-email", "short-password", "common-password",
         "keyboard-row", "own-address"],
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


def test_a_weak_password_is_refused_alike_for_a_taken_address(app, client, register):
    with app.app_context():
        make_user("ada@example.org")
    taken = register(client, "ada@example.org", "password1234")
    fresh = register(app.test_client(), "bob@example.org", "password1234")
    assert taken.status_code == fresh.status_code == 400
    assert _shape(taken, "ada@example.org") == _shape(fresh, "bob@example.org")


def test_registration_is_rate_limited_per_client_address(app, client, register, smtp_server):
    for n in range(10):
        assert register(client, f"user{n}@example.org").status_code == 200
    response = register(client, "one-more@example.org")
    assert response.status_code == 429
    assert "Too many accounts from here" in response.get_data(as_text=True)


def test_signed_in_user_visiting_register_goes_home(app, client, login):
    with app.app_context():
        make_user("someone@example.org")
    login(client, "someone@example.org")
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
