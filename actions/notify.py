"""Tells staff a new intake request is waiting, through `STAFF_NOTIFY_URL`.

The hook gets a JSON POST with the request's id and channel only: no name, number
or symptoms leave the clinic's database this way. A failing hook is retried, then
recorded on the request (`notify_error`); the request itself is already stored.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from actions import store
from bot.settings import get_settings

logger = logging.getLogger(__name__)
ATTEMPTS = 3
TIMEOUT_SECONDS = 3
BACKOFF_SECONDS = 0.5


def _post(url: str, payload: dict) -> None:
    import requests

    response = requests.post(url, json=payload, timeout=TIMEOUT_SECONDS)
    if response.status_code >= 300:
        raise RuntimeError(f"HTTP {response.status_code}")


async def post_json(url: str, payload: dict) -> None:
    """One POST (the project's one HTTP client, `requests`, off the event loop).

    Raises:
        RuntimeError: a non-2xx answer; `requests.RequestException` on a network error.
    """
    from bot.db.offloop import off_loop

    await off_loop(_post, url, payload)


async def intake_created(intake_id: int, channel: str) -> bool:
    """Notifies staff of a new request; True when the hook accepted it."""
    from bot.db.repository import mark_notified

    url = get_settings().staff_notify_url
    if not url:
        return False  # no hook configured: the request waits in the table
    payload = {
        "event": "intake_request.created",
        "intake_id": intake_id,
        "channel": channel,
        "sent_at": datetime.now(timezone.utc).isoformat(),
    }
    error = None
    for attempt in range(ATTEMPTS):
        try:
            await post_json(url, payload)
            error = None
            break
        except Exception as failure:  # noqa: BLE001 - any failure is retried, then kept
            error = f"{type(failure).__name__}: {failure}"[:300]
            await asyncio.sleep(BACKOFF_SECONDS * (2**attempt))
    if error:
        logger.warning("Staff notification for intake %s failed: %s", intake_id, error)
    try:
        await store.run(mark_notified, intake_id, error=error)
    except store.StoreError:
        pass  # the request is stored; only the notification status is missing
    return error is None
