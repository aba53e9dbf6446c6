"""The modules of the insight area register their views on ``bp`` when imported."""

from webapp.web.insight import (  # noqa: F401
    activity_views,
    difficulty_views,
    enroll_views,
    figures_views,
    funnel_views,
    gradebook_views,
    roster_views,
)
