"""Site settings: saved and audited, previewed, shown on every page without a query per
request (and seen by another process after a change), the footer pages through the
sanitizer, the logo checked by its bytes, the institution on certificates."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, SiteSetting
from webapp.services import site

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 32
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def admin(app, login, make_user):
    with app.app_context():
        make_user("boss@example.org", role="admin")
    client = app.test_client()
    assert login(client, "boss@example.org", DEFAULT_PASSWORD).status_code == 303
    return client


def _token(client, path="/admin/settings") -> str:
    body = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)


def _save(client, **fields):
    data = {"csrf_token": _token(client), "site_name": "", "institution_name": "",
            "support_email": "", "privacy": "", "terms": "", "accessibility": "",
            "action": "save", **fields}
    return client.post("/admin/settings", data=data)


def test_settings_are_saved_audited_and_shown_everywhere(app, admin, client):
    assert "· Tangent</title>" in client.get("/courses/").get_data(True)
    response = _save(admin, site_name="Northfield Learning", support_email="help@north.example",
                     privacy="# Privacy\n\nWe keep **little**.<script>alert(1)</script>")
    assert response.status_code == 303
    page = client.get("/courses/").get_data(as_text=True)
    assert "· Northfield Learning</title>" in page
    assert 'href="/pages/privacy">Privacy</a>' in page
    assert 'href="/pages/terms"' not in page  # empty pages are not linked
    assert 'href="mailto:help@north.example"' in page
    privacy = client.get("/pages/privacy")
    body = privacy.get_data(as_text=True)
    assert privacy.status_code == 200 and "<strong>little</strong>" in body
    assert "<script>alert" not in body
    assert client.get("/pages/terms").status_code == 404
    assert client.get("/pages/nothing").status_code == 404
    with app.app_context():
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "site.update"))
        assert audit.delta["site_name"] == ["", "Northfield Learning"]
        assert set(audit.delta) == {"site_name", "support_email", "page_privacy"}
    # Saving the same again changes nothing and records nothing.
    assert _save(admin, site_name="Northfield Learning", support_email="help@north.example",
                 privacy="# Privacy\n\nWe keep **little**.<script>alert(1)</script>"
                 ).status_code == 303
    with app.app_context():
        assert len(db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "site.update")).all()) == 1


def test_preview_renders_without_saving(app, admin):
    response = admin.post("/admin/settings", data={
        "csrf_token": _token(admin), "site_name": "", "terms": "Be *kind*.",
        "action": "preview"})
    assert response.status_code == 200
    assert "Be <em>kind</em>." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(SiteSetting.value).where(
            SiteSetting.key == "page_terms")) is None


@pytest.mark.parametrize(("fields", "message"), [
    ({"site_name": "x" * 81}, "80 characters"),
    ({"support_email": "not an address"}, "email address"),
    ({"privacy": "x" * (site.PAGE_MAX + 1)}, f"{site.PAGE_MAX} characters"),
])
def test_bad_settings_are_refused(admin, fields, message):
    response = _save(admin, **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_settings_cost_no_query_per_request_and_other_processes_see_changes(
        app, admin, client, query_counter):
    client.get("/account/")
    client.get("/login")
    with query_counter() as counted:
        client.get("/login")
    assert counted.n == 0  # the anonymous sign-in page: no statement at all
    # Another process changes the name: this one sees it once it reads the content tag.
    with app.app_context():
        db.session.add(SiteSetting(key="site_name", value="Elsewhere"))
        db.session.commit()
    assert "· Elsewhere</title>" in client.get("/courses/").get_data(as_text=True)


def test_logo_upload_is_checked_by_its_bytes_and_served(app, admin, client, monkeypatch):
    # A small limit: a body over 500 KB makes the test client spool it to a temporary
    # file that it never closes.
    monkeypatch.setattr(site, "LOGO_MAX_BYTES", 2048)

    def upload(data: bytes, name: str = "logo.png"):
        return admin.post("/admin/settings/logo", data={
            "logo-csrf_token": _token(admin), "logo-logo": (io.BytesIO(data), name)},
            content_type="multipart/form-data")

    assert upload(SVG, "logo.png").status_code == 400
    assert upload(b"GIF89a" + b"\x00" * 20, "logo.gif").status_code == 400
    big = upload(PNG + b"\x00" * site.LOGO_MAX_BYTES)
    assert big.status_code == 400 and "at most 2 KB" in big.get_data(as_text=True)
    assert upload(b"").status_code == 400
    assert upload(WEBP, "logo.webp").status_code == 303
    assert upload(PNG).status_code == 303
    page = client.get("/").get_data(as_text=True)
    src = re.search(r'<img src="(/site/logo\?v=[0-9a-f]+)" alt="" class="brand-logo">',
                    page).group(1)
    logo = client.get(src)
    assert logo.status_code == 200 and logo.mimetype == "image/png" and logo.data == PNG
    assert "immutable" in logo.headers["Cache-Control"]
    assert admin.post("/admin/settings/logo/remove",
                      data={"remove-csrf_token": _token(admin)}).status_code == 303
    assert client.get("/site/logo").status_code == 404
    assert "brand-logo" not in client.get("/").get_data(as_text=True)
    with app.app_context():
        deltas = [a.delta["logo"] for a in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "site.logo").order_by(AuditEvent.id))]
        assert deltas[0][1].startswith("image/webp;") and deltas[-1][1] is None


def test_image_types_by_magic_bytes():
    assert site.image_type(PNG) == "image/png"
    assert site.image_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert site.image_type(WEBP) == "image/webp"
    assert site.image_type(SVG) is None
    assert site.image_type(b"RIFF\x00\x00\x00\x00WAVE") is None


def test_institution_name_on_certificates(app, admin):
    assert _save(admin, institution_name="Northfield College").status_code == 303
    with app.app_context():
        assert site.current().certificate_issuer == "Northfield College"
