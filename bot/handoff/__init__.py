"""The staff takeover: a conversation handed to a person, and back to the bot.

"Held by staff" is written in two places: Rasa's `pause` / `resume` events and the
`handoffs` row (open, claimed, closed). One of them is the truth:

**Rasa's event log is the truth; the `handoffs` row follows it.** A conversation is
held by staff when its last pause/resume event is a pause and it has an open or
claimed handoff (`hold.held_by_staff`, the one answer everybody asks). Why the
events and not the row:

- the pause is what silences the bot: Rasa skips every message of a paused
  conversation, and `bot.rasa_server` answers a crisis there by the same flag.
  Whatever else said "held", it would have to be turned into a pause anyway;
- only the events tell the two kinds of open handoff apart: in clinic hours the
  bot pauses itself and a person replies; out of hours the handoff is open too but
  the bot keeps talking (it offers the intake form) until staff reply. The row's
  status cannot say which without a second, hand-synchronised column;
- they are append-only and ordered: when two staff actions race, the last event
  is the last word, and the tracker shows what happened.

The row is the staff queue: who waits, why, how urgently, who answered. It follows
the hold through the transitions here, always in the order that keeps "a held
conversation has its handoff": to hold, the row is opened or claimed first, then
the pause appended (`actions.handoff`, `HandoffService.reply`); to give back, the
resume is appended first, then the row closed (`HandoffService.resume`). Where
Rasa itself forgets (a new session clears the pause flag), the session start
asks `hold.held_by_staff` and pauses again; a pause whose handoff is gone (a
closed row without a resume) is not a hold, since nobody on the queue would ever
release it. Staff actions (reply, claim, hand back) run one at a time per handoff
(`desk`, a lease), since reply and resume both write the two places.

Modules, in the order a takeover happens:

- `hold`: the truth and the one answer (pure; the action server uses it too);
- `rasa_api`: Rasa's HTTP API (events appended to a conversation, errors);
- `service`: `HandoffService`, the staff side (reply, resume, pause);
- `desk`: what the console's staff do with a handoff, under a lease per handoff;
- `waiting`: the one message to a patient still waiting past
  `HANDOFF_TARGET_MINUTES`, which also gives the conversation back to the bot
  (the handoff stays on the queue), so they can leave their details instead.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public names and their modules. Loaded on first use, so that the action server,
# which needs only `hold`, does not load the HTTP client and the database layer.
_EXPORTS = {
    "DEFAULT_TIMEOUT": "bot.handoff.rasa_api",
    "RasaError": "bot.handoff.rasa_api",
    "RasaEvents": "bot.handoff.rasa_api",
    "RasaUnavailable": "bot.handoff.rasa_api",
    "conversation_path": "bot.handoff.rasa_api",
    "reply_channel": "bot.handoff.rasa_api",
    "MAX_REPLY_LENGTH": "bot.handoff.service",
    "HandoffService": "bot.handoff.service",
    "check_reply_text": "bot.handoff.service",
    "HandoffStateError": "bot.db.repository",
    "held_by_staff": "bot.handoff.hold",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """The public names of the package's modules, imported when first asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.handoff' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
