"""Site settings: the site's name and logo, the institution named on certificates, the
support address, and the footer pages (privacy, terms, accessibility statement) written
in Markdown and shown through the one sanitizer.

Every page shows some of them, so they are cached per process and never cost a query
on an ordinary request. ``site_setting`` is a content table (``models.content_generation``):
a change moves the content tag, which most pages read anyway; a process whose cache was
built under another tag rebuilds it. A page that does not read the tag trusts the cache
for ``RECHECK_SECONDS`` and then reads the tag once (one primary-key lookup). The
process that made a change drops its cache at once (``clear_cache``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from webapp.content.render import render_markdown
from webapp.extensions import db
from webapp.models import SiteSetting, User
from webapp.models.content_generation import ROW_ID, TAG_KEY, ContentGeneration
from webapp.services.audit import record_audit
from webapp.services.exceptions import NotFound, ValidationFailed

DEFAULT_SITE_NAME = "Tangent"
NAME_MAX = 80
INSTITUTION_MAX = 120
PAGE_MAX = 50_000
LOGO_MAX_BYTES = 512 * 1024
RECHECK_SECONDS = 30.0
# Footer pages: URL name → (setting key, title).
PAGES = {
    "privacy": ("page_privacy", "Privacy"),
    "terms": ("page_terms", "Terms of use"),
    "accessibility": ("page_accessibility", "Accessibility statement"),
}
# What the first bytes of each accepted image format are (SVG is refused: it can hold
# script). WebP is a RIFF container whose form type is "WEBP".
_MAGIC = (("image/png", b"\x89PNG\r\n\x1a\n"), ("image/jpeg", b"\xff\xd8\xff"))


@dataclass(frozen=True)
class SiteSettings:
    site_name: str = DEFAULT_SITE_NAME
    institution_name: str = ""
    support_email: str = ""
    # Markdown sources and their sanitized HTML, by page name ("privacy" …).
    page_sources: dict[str, str] = field(default_factory=dict)
    page_html: dict[str, str] = field(default_factory=dict)
    # "image/png;<digest>" when a logo is set; the digest versions its URL.
    logo: str = ""

    @property
    def footer_pages(self) -> list[tuple[str, str]]:
        """``[(name, title)]`` of the pages that have content, in a fixed order."""
        return [(name, title) for name, (_key, title) in PAGES.items()
                if self.page_sources.get(name, "").strip()]

    @property
    def logo_version(self) -> str:
        return self.logo.partition(";")[2]

    @property
    def certificate_issuer(self) -> str:
        return self.institution_name or self.site_name


@dataclass
class _Cached:
    settings: SiteSettings
    tag: str | None
    checked_at: float


_lock = threading.Lock()
_cache: _Cached | None = None
_TAG = select(ContentGeneration.tag).where(ContentGeneration.id == ROW_ID)
_MISSING = object()


def clear_cache() -> None:
    """Forget the cached settings (after a change, and between tests)."""
    global _cache
    with _lock:
        _cache = None


def _read_tag() -> str | None:
    info = db.session.info
    if TAG_KEY not in info:
        info[TAG_KEY] = db.session.execute(_TAG).scalar()
    return info[TAG_KEY]


def current() -> SiteSettings:
    """The site settings, from this process's cache when it still holds (see above)."""
    global _cache
    cached = _cache
    now = time.monotonic()
    seen = db.session.info.get(TAG_KEY, _MISSING)
    if cached is not None:
        if seen is not _MISSING:
            if seen == cached.tag:
                return cached.settings
        elif now - cached.checked_at < RECHECK_SECONDS:
            return cached.settings
        else:
            tag = _read_tag()
            if tag == cached.tag:
                cached.checked_at = now
                return cached.settings
    tag = _read_tag()
    settings = load()
    with _lock:
        _cache = _Cached(settings, tag, now)
    return settings


def load() -> SiteSettings:
    """The settings from the database (one query; the logo's bytes stay behind)."""
    values = dict(db.session.execute(select(SiteSetting.key, SiteSetting.value)).all())
    sources = {name: values.get(key, "") for name, (key, _title) in PAGES.items()}
    return SiteSettings(
        site_name=values.get("site_name") or DEFAULT_SITE_NAME,
        institution_name=values.get("institution_name", ""),
        support_email=values.get("support_email", ""),
        page_sources=sources,
        page_html={name: render_markdown(source) for name, source in sources.items()
                   if source.strip()},
        logo=values.get("logo", ""),
    )


def _line(raw: str, field_name: str, limit: int) -> str:
    text = " ".join("".join(ch for ch in (raw or "") if ch.isprintable() or ch.isspace())
                    .split())
    if len(text) > limit:
        raise ValidationFailed(f"Use at most {limit} characters.", field=field_name)
    return text


def clean_settings(*, site_name: str, institution_name: str, support_email: str,
                   pages: dict[str, str]) -> dict[str, str]:
    """The settings as stored, by key; ``ValidationFailed`` naming the field otherwise."""
    values = {
        "site_name": _line(site_name, "site_name", NAME_MAX),
        "institution_name": _line(institution_name, "institution_name", INSTITUTION_MAX),
    }
    email = (support_email or "").strip()
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationFailed(str(exc), field="support_email") from None
    values["support_email"] = email
    for name, (key, _title) in PAGES.items():
        source = (pages.get(name) or "").replace("\r\n", "\n").replace("\x00", "")
        if len(source) > PAGE_MAX:
            raise ValidationFailed(f"Use at most {PAGE_MAX} characters.", field=name)
        values[key] = source
    return values


def preview_pages(pages: dict[str, str]) -> dict[str, str]:
    """The footer pages' HTML as they would be shown (sanitized), without saving."""
    return {name: render_markdown(source) for name, source in pages.items()
            if name in PAGES and (source or "").strip()}


def _rows() -> dict[str, SiteSetting]:
    return {row.key: row for row in db.session.scalars(select(SiteSetting))}


def _put(rows: dict[str, SiteSetting], key: str, value: str,
         data: bytes | None = None) -> None:
    row = rows.get(key)
    if row is None:
        row = rows[key] = SiteSetting(key=key)
        db.session.add(row)
    row.value, row.data = value, data


def save_settings(actor: User, **fields) -> dict[str, list[str]]:
    """Store the settings from ``clean_settings(**fields)``; audited with what changed
    (page sources in full). Returns the delta (empty when nothing changed). Flushes."""
    values = clean_settings(**fields)
    rows = _rows()
    delta = {key: [rows[key].value if key in rows else "", value]
             for key, value in values.items()
             if (rows[key].value if key in rows else "") != value}
    if not delta:
        return {}
    for key in delta:
        _put(rows, key, values[key])
    record_audit(actor, "site.update", "site_setting", None, delta)
    db.session.flush()
    return delta


def image_type(data: bytes) -> str | None:
    """The media type of a PNG, JPEG or WebP image by its first bytes, else None."""
    for media_type, magic in _MAGIC:
        if data.startswith(magic):
            return media_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def set_logo(actor: User, data: bytes) -> str:
    """Make ``data`` (PNG, JPEG or WebP, at most ``LOGO_MAX_BYTES``) the site's logo;
    returns its media type. Audited with the old and new logo's type and digest."""
    if not data:
        raise ValidationFailed("Choose an image file.", field="logo")
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationFailed(f"Use an image of at most {LOGO_MAX_BYTES // 1024} KB.",
                               field="logo")
    media_type = image_type(data)
    if media_type is None:
        raise ValidationFailed("Use a PNG, JPEG or WebP image (SVG is not accepted).",
                               field="logo")
    value = f"{media_type};{hashlib.sha256(data).hexdigest()[:16]}"
    rows = _rows()
    before = rows["logo"].value if "logo" in rows else ""
    _put(rows, "logo", value, data)
    record_audit(actor, "site.logo", "site_setting", None, {"logo": [before or None, value]})
    db.session.flush()
    return media_type


def remove_logo(actor: User) -> bool:
    """Go back to the site name alone; whether there was a logo."""
    rows = _rows()
    if "logo" not in rows or not rows["logo"].value:
        return False
    record_audit(actor, "site.logo", "site_setting", None, {"logo": [rows["logo"].value, None]})
    _put(rows, "logo", "", None)
    db.session.flush()
    return True


def logo() -> tuple[str, bytes, str]:
    """``(media type, bytes, version)`` of the logo; ``NotFound`` when there is none."""
    row = db.session.get(SiteSetting, "logo")
    if row is None or not row.value or row.data is None:
        raise NotFound("No logo is set.")
    media_type, _, version = row.value.partition(";")
    return media_type, row.data, version
