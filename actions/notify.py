"""Tells staff something is waiting for them, through `STAFF_NOTIFY_URL`.

The hook gets a JSON POST with ids and categories only: no name, number, email or
message text leaves the clinic's database this way. The events:

- `intake_request.created`: `{"event", "intake_id", "channel", "sent_at"}`;
- `handoff.created`: a patient asked for a person (or a crisis opened the
  handoff: then `urgent` is true and `reason` is "crisis"):
  `{"event", "handoff_id", "channel", "reason", "urgent", "sent_at"}`;
- `handoff.urgent`: an open or claimed handoff became urgent because of a crisis
  (the crisis guidance was sent, also while staff held the conversation); the
  same keys, `urgent` true and `reason` "crisis".

A failing hook is retried, then recorded on the row (`notify_error`); the row
itself is already stored. The intake request's POST runs inside its action (the
patient reads "sent" either way). A handoff's runs in the background
(`handoff_changed`): the handoff reply and the crisis guidance never wait for a
slow or unreachable hook.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Optional, Set

from actions import store
from bot.settings import get_settings

logger = logging.getLogger(__name__)
ATTEMPTS = 3
TIMEOUT_SECONDS = 3
BACKOFF_SECONDS = 0.5
HANDOFF_CREATED = "handoff.created"
HANDOFF_URGENT = "handoff.urgent"
# Every key a hook may receive: ids, categories and a time, never patient data.
PAYLOAD_KEYS = frozenset(
    {"event", "intake_id", "handoff_id", "channel", "reason", "urgent", "sent_at"}
)

# Handoff notifications in flight: kept so that they are not garbage-collected
# before they finish (asyncio keeps only weak references to tasks).
_pending: Set[asyncio.Task[bool]] = set()


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


def _payload(event: str, **ids: Any) -> Dict[str, Any]:
    payload = {"event": event, **ids}
    payload["sent_at"] = datetime.now(timezone.utc).isoformat()
    if not set(payload) <= PAYLOAD_KEYS:
        raise ValueError("only ids and categories go to the hook")
    return payload


def _describe(failure: Exception) -> str:
    """The failure, without the URL a network error quotes (it may hold a secret).

    A hook's URL often carries one, e.g. a chat service's incoming webhook.
    """
    if isinstance(failure, RuntimeError) and str(failure).startswith("HTTP "):
        return str(failure)  # "HTTP 503"
    return type(failure).__name__  # "ConnectionError", "ReadTimeout"


async def _deliver(url: str, payload: Dict[str, Any]) -> Optional[str]:
    """POSTs with retries; None when the hook accepted it, else the last error."""
    error = None
    for attempt in range(ATTEMPTS):
        try:
            await post_json(url, payload)
            return None
        except Exception as failure:  # noqa: BLE001 - any failure is retried, then kept
            error = _describe(failure)
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(BACKOFF_SECONDS * (2**attempt))
    return error


async def _notify(
    record: Callable[..., Any], row_id: int, what: str, payload: Dict[str, Any]
) -> bool:
    url = get_settings().staff_notify_url
    if not url:
        return False  # no hook configured: the row waits in the table
    error = await _deliver(url, payload)
    if error:
        logger.warning("Staff notification for %s %s failed: %s", what, row_id, error)
    try:
        await store.run(record, row_id, error=error)
    except store.StoreError:
        pass  # the row is stored; only the notification status is missing
    return error is None


async def intake_created(intake_id: int, channel: str) -> bool:
    """Notifies staff of a new request; True when the hook accepted it."""
    from bot.db.repository import mark_notified

    payload = _payload("intake_request.created", intake_id=intake_id, channel=channel)
    return await _notify(mark_notified, intake_id, "intake", payload)


async def handoff_notified(
    event: str, handoff_id: int, channel: str, reason: str, urgent: bool
) -> bool:
    """Notifies staff of a handoff's event; True when the hook accepted it."""
    from bot.db.repository import mark_handoff_notified

    payload = _payload(
        event, handoff_id=handoff_id, channel=channel, reason=reason, urgent=urgent
    )
    return await _notify(mark_handoff_notified, handoff_id, "handoff", payload)


def handoff_changed(
    event: str, handoff_id: int, channel: str, reason: str, urgent: bool
) -> Optional[asyncio.Task[bool]]:
    """Starts `handoff_notified` in the background (None when no hook is set).

    Must be called on the running event loop (an action's `run`).
    """
    if not get_settings().staff_notify_url:
        return None
    task = asyncio.get_running_loop().create_task(
        handoff_notified(event, handoff_id, channel, reason, urgent)
    )
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


async def settle() -> None:
    """Waits for the handoff notifications in flight (tests; a clean shutdown)."""
    while _pending:
        await asyncio.gather(*list(_pending), return_exceptions=True)
