"""The footer pages and the logo, and ``site`` in every template."""

from __future__ import annotations

import logging

from flask import abort, make_response, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from webapp.services import site
from webapp.web.site import bp

log = logging.getLogger(__name__)


@bp.app_context_processor
def _site_settings() -> dict:
    try:
        return {"site": site.current()}
    except SQLAlchemyError:
        # The error page for an unreachable database still renders, with the defaults.
        log.warning("site settings unavailable; showing the defaults", exc_info=True)
        return {"site": site.SiteSettings()}


@bp.get("/pages/<name>")
def page(name: str):
    settings = site.current()
    if name not in site.PAGES or name not in settings.page_html:
        abort(404)
    return render_template("site/page.html", title=site.PAGES[name][1],
                           html=settings.page_html[name])


@bp.get("/site/logo")
def logo():
    media_type, data, version = site.logo()
    response = make_response(data)
    response.mimetype = media_type
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The page links the logo with ?v=<digest>: that URL never changes content.
    if request.args.get("v") == version:
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response
