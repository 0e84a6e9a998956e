"""The overview page's data: summaries brought up to date, then the figures."""

from __future__ import annotations

from bot.console import overview as figures
from bot.db import summaries


def overview_page(engine, zone):
    """The overview's figures, after bringing the summaries up to date."""
    summaries.refresh(engine, wait=False)  # another request may be refreshing
    with engine.begin() as connection:
        return figures.overview(connection, zone)
