"""Runs Rasa's own server (`rasa run ...`) with the product's safety changes applied.

Rasa 3.6 has no hook for these, so they are applied to its classes before its
command line starts, in this one place:

- **Crisis while paused.** Rasa skips every message of a conversation held by staff
  (`MessageProcessor._should_handle_message`), so a crisis sent while waiting for a
  person got no answer. A message whose intent is `crisis` is now handled in every
  state: the crisis rule sends the guidance and flags the open handoff as urgent.

`python -m bot.rasa_server run --model ...` takes exactly `rasa`'s arguments.
"""

from __future__ import annotations

import sys
from typing import List

CRISIS_INTENT = "crisis"

_applied = False


def apply() -> None:
    """Applies the changes to Rasa's classes (idempotent)."""
    global _applied
    if _applied:
        return
    from rasa.core.processor import MessageProcessor
    from rasa.shared.nlu.constants import INTENT_NAME_KEY

    original = MessageProcessor._should_handle_message

    def _should_handle_message(tracker) -> bool:
        latest = tracker.latest_message
        if latest is not None and latest.intent.get(INTENT_NAME_KEY) == CRISIS_INTENT:
            return True
        return original(tracker)

    MessageProcessor._should_handle_message = staticmethod(_should_handle_message)
    _applied = True


def main(argv: List[str] | None = None) -> None:
    """Applies the changes, then runs Rasa's command line with `argv`."""
    apply()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
