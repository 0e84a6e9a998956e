"""The Answers page's data: summaries brought up to date, then the figures.

Viewing one key's "Not helpful" reasons (patient text, with links to their
conversations) is written to the audit log in the same transaction as the read.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from bot.console import answers as figures
from bot.db import summaries
from bot.db.queries import audit


def answers_page(engine, zone, period: str) -> Dict[str, Any]:
    """Every answer key's figures for the period."""
    summaries.refresh(engine, wait=False)  # another request may be refreshing
    with engine.begin() as connection:
        return figures.answers_page(connection, zone, period)


def answer_detail(
    engine, zone, period: str, key: str, user_email: str, ip
) -> Optional[Dict[str, Any]]:
    """One key's figures and reasons, audited; None for a key never seen."""
    summaries.refresh(engine, wait=False)
    with engine.begin() as connection:
        data = figures.answer_detail(connection, zone, period, key)
        row = data["row"]
        if not row.in_catalog and not (row.given or row.rated or data["votes"]):
            return None
        audit.record(connection, user_email, "view", "answer feedback", key, ip)
        return data
