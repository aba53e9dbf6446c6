"""The "Scheduled maintenance" section of the admin jobs page and its "Run now" button
(huey is immediate in tests, so the run happens inside the POST)."""

from __future__ import annotations

import html
import json
import subprocess
from datetime import timedelta

import pytest

from tests.factories import DEFAULT_PASSWORD
from tests.web.test_html_valid import vnu  # noqa: F401 - the Nu checker fixture
from webapp.extensions import db
from webapp.jobs import maintenance
from webapp.models import SecurityEvent
from webapp.models.base import utcnow
from webapp.models.maintenance import MaintenanceTask


def signed_in(app, login, make_user, email: str, role: str):
    with app.app_context():
        make_user(email, role=role)
    client = app.test_client()
    assert login(client, email, DEFAULT_PASSWORD).status_code in (302, 303)
    return client


@pytest.fixture
def admin(app, login, make_user):
    return signed_in(app, login, make_user, "boss@example.org", "admin")


def page(client) -> str:
    response = client.get("/admin/jobs")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def run_now(client, csrf_token, name: str, **kwargs):
    token = csrf_token(client, "/admin/jobs")
    return client.post(f"/admin/jobs/maintenance/{name}/run",
                       data={"csrf_token": token}, **kwargs)


def test_the_page_lists_every_task_with_its_last_run(app, admin):
    maintenance.run_task(app, "purge_notifications")
    text = page(admin)
    assert "Scheduled maintenance" in text
    for task in maintenance.TASKS.values():
        assert task.title in text and task.schedule in text
        assert f"/admin/jobs/maintenance/{task.name}/run" in text
    assert "purged 0 notifications" in text and "Never" in text
    assert "Done" in text


def test_run_now_runs_the_task_and_says_what_it_did(app, admin, csrf_token):
    # It already ran this period: "Run now" runs it again all the same.
    maintenance.run_task(app, "purge_security_events", now=utcnow() - timedelta(minutes=5))
    with app.app_context():
        db.session.add(SecurityEvent(kind="login_failed",
                                     created_at=utcnow() - timedelta(days=400)))
        db.session.commit()
    response = run_now(admin, csrf_token, "purge_security_events")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/jobs#maintenance")
    text = page(admin)
    assert "“Purge old security events”: Done — purged 1 security event." in text
    with app.app_context():
        # Only the old one went; the admin's recent sign-in events stay.
        kinds = db.session.scalars(db.select(SecurityEvent.kind)).all()
        assert kinds and "login_failed" not in kinds
        assert db.session.get(MaintenanceTask, "purge_security_events").run_count == 2


def test_run_now_beside_a_running_task_says_so_and_runs_nothing(app, admin, csrf_token):
    with app.app_context():
        db.session.add(MaintenanceTask(name="prune_audio", run_count=0,
                                       lease_holder="worker-2:99:abc",
                                       last_started_at=utcnow(),
                                       lease_until=utcnow() + timedelta(minutes=30)))
        db.session.commit()
    assert "Running now" in page(admin)
    assert run_now(admin, csrf_token, "prune_audio").status_code == 303
    assert "“Prune unused audio files” is already running in another process" in page(admin)
    with app.app_context():
        kept = db.session.get(MaintenanceTask, "prune_audio")
        assert (kept.run_count, kept.lease_holder) == (0, "worker-2:99:abc")


def test_a_failed_run_is_shown_as_failed(app, admin, csrf_token, monkeypatch):
    def broken(app, now):
        raise OSError("No space left on device")

    task = maintenance.TASKS["database_upkeep"]
    monkeypatch.setitem(maintenance.TASKS, "database_upkeep",
                        maintenance.Task(**{**task.__dict__, "run": broken}))
    run_now(admin, csrf_token, "database_upkeep")
    text = page(admin)
    assert "“Database upkeep”: Failed — OSError: No space left on device." in text
    assert '<small class="job-error">OSError: No space left on device</small>' in text


def test_run_now_is_for_admins_with_a_valid_form(app, admin, csrf_token, login, make_user):
    assert run_now(admin, csrf_token, "no_such_task").status_code == 404
    assert admin.post("/admin/jobs/maintenance/prune_audio/run").status_code == 400
    editor = signed_in(app, login, make_user, "ed@example.org", "editor")
    token = csrf_token(editor, "/account/")
    assert editor.post("/admin/jobs/maintenance/prune_audio/run",
                       data={"csrf_token": token}).status_code == 403
    anonymous = app.test_client().post("/admin/jobs/maintenance/prune_audio/run")
    assert anonymous.status_code in (302, 303, 400)
    with app.app_context():
        assert db.session.get(MaintenanceTask, "prune_audio") is None


def test_the_page_with_runs_is_valid_html(app, admin, vnu, tmp_path):  # noqa: F811
    for name in ("purge_notifications", "recover_jobs"):
        maintenance.run_task(app, name)
    with app.app_context():
        db.session.add(MaintenanceTask(name="prune_audio", run_count=3, last_outcome="failed",
                                       last_detail="OSError: <gone> & lost",
                                       last_started_at=utcnow(), last_finished_at=utcnow(),
                                       last_duration_ms=61_500,
                                       lease_until=utcnow() + timedelta(minutes=5)))
        db.session.commit()
    target = tmp_path / "admin-jobs.html"
    target.write_bytes(admin.get("/admin/jobs").data)
    result = subprocess.run([*vnu, str(target)], capture_output=True, text=True, timeout=120,
                            check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    assert [m for m in messages if m.get("type") == "error"] == []
    assert "1 min 2 s" in page(admin)
