"""The modules of the moderation area register their views on ``bp`` when imported."""

from webapp.web.moderation import (  # noqa: F401
    appeal_views,
    item_views,
    people_views,
    queue_views,
)
