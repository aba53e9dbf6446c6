"""The one place that knows htmx's request and response headers."""

from __future__ import annotations

from flask import g, make_response, render_template, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def is_partial() -> bool:
    """A request wants a fragment: htmx, but not boosted and not a history restore."""
    return (
        is_htmx()
        and request.headers.get("HX-Boosted") != "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def vary(response):
    response.vary.add("HX-Request")
    return response


def render(page: str, partial: str | None = None, status_code: int = 200, **context):
    """Render ``partial`` for htmx fragment requests and ``page`` otherwise.

    Without ``partial`` the one template serves both (a fragment-only endpoint,
    or a page whose URL htmx also asks for). Either way the response varies on
    ``HX-Request``, so no cache hands a fragment to a full page load.
    """
    template = partial if partial is not None and is_partial() else page
    response = make_response(render_template(template, **context), status_code)
    return vary(response)


def partial_or_redirect(partial: str, location: str, status_code: int = 200, **context):
    """After a POST: ``partial`` for htmx fragment requests, else a redirect to ``location``
    (post/redirect/get; see ``redirect``)."""
    if is_partial():
        return render(partial, status_code=status_code, **context)
    return redirect(location)


def retarget(response, target: str, swap: str = "innerHTML"):
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = swap
    return response


def redirect(location: str):
    """Client-side redirect for htmx; plain 303 otherwise."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    response = make_response("", 303)
    response.headers["Location"] = location
    return response


def plain_fragment() -> None:
    """Mark this response as a bare fragment (autocomplete suggestions, similar titles):
    nothing else rides along with it, such as the out-of-band unread badge."""
    g.htmx_plain_fragment = True


def is_plain_fragment() -> bool:
    return bool(g.get("htmx_plain_fragment"))
