"""Site settings: the texts (with a preview of the footer pages) and the logo."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.services import site
from webapp.services.community import rules
from webapp.services.exceptions import ValidationFailed
from webapp.web.admin import bp
from webapp.web.admin.forms import RULE_PREFIX, ConfirmForm, LogoForm, SiteSettingsForm


def _forms(settings: site.SiteSettings) -> tuple[SiteSettingsForm, LogoForm, ConfirmForm]:
    form = SiteSettingsForm()
    if request.method == "GET":
        form.site_name.data = settings.site_name if settings.site_name != \
            site.DEFAULT_SITE_NAME else ""
        form.institution_name.data = settings.institution_name
        form.support_email.data = settings.support_email
        for name in site.PAGES:
            getattr(form, name).data = settings.page_sources.get(name, "")
        for key, value in rules.current().items():
            getattr(form, RULE_PREFIX + key).data = value
    return form, LogoForm(prefix="logo"), ConfirmForm(prefix="remove")


def _render(form, logo_form, remove_form, status: int = 200, preview: dict | None = None):
    return render_template("admin/settings.html", form=form, logo_form=logo_form,
                           remove_form=remove_form, preview=preview, pages=site.PAGES,
                           rule_fields=[RULE_PREFIX + rule.key for rule in rules.RULES],
                           logo_max_kb=site.LOGO_MAX_BYTES // 1024), status


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    form, logo_form, remove_form = _forms(site.load())
    if request.method == "GET":
        return _render(form, logo_form, remove_form)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, "The form expired; reload the page and try again.")
        return _render(form, logo_form, remove_form, 400)
    pages = {name: getattr(form, name).data or "" for name in site.PAGES}
    fields = {"site_name": form.site_name.data or "",
              "institution_name": form.institution_name.data or "",
              "support_email": form.support_email.data or "", "pages": pages}
    try:
        if request.form.get("action") == "preview":
            site.clean_settings(**fields)
            return _render(form, logo_form, remove_form, preview=site.preview_pages(pages))
        actor = current_user._get_current_object()
        changed = site.save_settings(actor, **fields)
        # The rules and the texts: one save, one transaction.
        changed_rules = rules.save_rules(actor, {
            rule.key: getattr(form, RULE_PREFIX + rule.key).data for rule in rules.RULES
            if getattr(form, RULE_PREFIX + rule.key).data is not None})
        changed = changed or changed_rules
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        field = getattr(form, exc.field or "", None) or getattr(
            form, RULE_PREFIX + (exc.field or ""), None) or form.site_name
        field.errors = [*field.errors, exc.message]
        return _render(form, logo_form, remove_form, exc.status)
    site.clear_cache()
    flash("Site settings saved." if changed else "Nothing changed.",
          "success" if changed else "info")
    return redirect(url_for("admin.settings"), 303)


@bp.post("/settings/logo")
def upload_logo():
    form, logo_form, remove_form = _forms(site.load())
    if not logo_form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    upload = request.files.get("logo-logo")
    data = b""
    if upload:
        # One byte more than allowed is enough to refuse it; a large upload is spooled to a
        # temporary file, closed here rather than whenever the request is collected.
        try:
            data = upload.stream.read(site.LOGO_MAX_BYTES + 1)
        finally:
            upload.close()
    try:
        site.set_logo(current_user._get_current_object(), data)
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        logo_form.logo.errors = [exc.message]
        return _render(form, logo_form, remove_form, exc.status)
    site.clear_cache()
    flash("Logo saved.", "success")
    return redirect(url_for("admin.settings"), 303)


@bp.post("/settings/logo/remove")
def remove_logo():
    remove_form = ConfirmForm(prefix="remove")
    if not remove_form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    removed = site.remove_logo(current_user._get_current_object())
    db.session.commit()
    site.clear_cache()
    flash("Logo removed." if removed else "There was no logo.", "success" if removed else "info")
    return redirect(url_for("admin.settings"), 303)
