from tests.factories import DEFAULT_PASSWORD, make_user


def test_home_shows_empty_catalog(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No courses yet" in response.get_data(as_text=True)


def test_login_with_real_form(app, client, login):
    with app.app_context():
        make_user("ada@example.org")
    response = login(client, "Ada@Example.org", DEFAULT_PASSWORD)
    assert response.status_code == 303
    page = client.get("/account/").get_data(as_text=True)
    assert "ada@example.org" in page
