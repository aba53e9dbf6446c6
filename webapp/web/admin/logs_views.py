"""The audit log (with its CSV export) and the security events."""

from __future__ import annotations

from flask import Response, render_template, request, stream_with_context

from webapp.models.audit import SECURITY_EVENT_KINDS
from webapp.models.base import utcnow
from webapp.services import audit_log
from webapp.web.admin import bp
from webapp.web.edge import id_arg

PAGE_SIZE = 50
AUDIT_FIELDS = ("actor", "action", "target_type", "target_id", "start", "end")
SECURITY_FIELDS = ("kind", "email", "ip", "start", "end")


def _args(fields: tuple[str, ...]) -> dict[str, str]:
    return {name: request.args.get(name, "").strip() for name in fields}


@bp.get("/audit")
def audit():
    args = _args(AUDIT_FIELDS)
    f = audit_log.audit_filter(**args)
    before = request.args.get("before", type=id_arg)
    rows, next_before = audit_log.list_audit(f, before=before, page_size=PAGE_SIZE)
    return render_template(
        "admin/audit.html", rows=rows, args=args, filtered=f.active,
        query={k: v for k, v in args.items() if v}, before=before, next_before=next_before,
        actions=audit_log.audit_actions(),
        emails=audit_log.emails_of({row.actor_id for row in rows}),
        delta_lines=audit_log.delta_lines)


@bp.get("/audit.csv")
def audit_csv():
    f = audit_log.audit_filter(**_args(AUDIT_FIELDS))
    response = Response(stream_with_context(audit_log.audit_csv(f)), mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f"attachment; filename=tangent-audit-{utcnow():%Y-%m-%d}.csv")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/security")
def security():
    args = _args(SECURITY_FIELDS)
    f = audit_log.security_filter(**args)
    before = request.args.get("before", type=id_arg)
    rows, next_before = audit_log.list_security_events(f, before=before, page_size=PAGE_SIZE)
    return render_template(
        "admin/security.html", rows=rows, args=args, kinds=SECURITY_EVENT_KINDS,
        query={k: v for k, v in args.items() if v}, before=before, next_before=next_before,
        summary=audit_log.attack_summary(),
        emails=audit_log.emails_of({row.user_id for row in rows}
                                   | {row.actor_id for row in rows}))
