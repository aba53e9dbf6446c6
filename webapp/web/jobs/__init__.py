"""Background jobs on the web: asking the AI for a course draft, the live job card
(htmx polling that stops itself), cancelling, the editor's list of drafts, and the
admin pages for jobs, the AI/TTS cost ledger (with a CSV for reconciliation) and the
outgoing-mail log (mail_views) and the scheduled maintenance's "Run now"
(maintenance_views).
"""

from flask import Blueprint

bp = Blueprint("jobs", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.jobs import mail_views, maintenance_views, views  # noqa: E402, F401
