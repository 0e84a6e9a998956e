"""Trackers for action tests, built from keyword arguments instead of JSON dumps."""

from __future__ import annotations

from typing import Any, Dict, List


def make_tracker(
    sender_id: str = "test-patient",
    slots: Dict[str, Any] | None = None,
    intent: str | None = None,
    text: str = "",
    response_selector: Dict[str, Any] | None = None,
    events: List[Dict[str, Any]] | None = None,
):
    """Builds a Tracker from keyword arguments instead of a JSON dump."""
    from rasa_sdk import Tracker

    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0} if intent else {},
        "entities": [],
        "response_selector": response_selector or {},
    }
    return Tracker(
        sender_id=sender_id,
        slots=slots or {},
        latest_message=latest,
        events=events or [],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
