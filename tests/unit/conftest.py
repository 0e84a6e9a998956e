"""Fixtures of the unit tests: what the patient reads of an action's messages."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from tests.support.paths import ROOT


@pytest.fixture(scope="session")
def rasa_domain():
    """The domain as the Rasa server loads it (responses with their variants)."""
    from rasa.shared.core.domain import Domain

    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def patient_reads(rasa_domain):
    """Renders a dispatcher message as the Rasa server sends it to the patient.

    An action names a response and its values; the Rasa server fills it in with
    its own NLG (slots, values, channel and slot variants) and adds the action's
    buttons, as `RemoteAction._utter_responses` does. Call it with the message,
    the conversation's slots and the channel; it returns the message's dict
    (`text`, `buttons`).
    """
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.events import SlotSet
    from rasa.shared.core.trackers import DialogueStateTracker

    nlg = TemplatedNaturalLanguageGenerator(rasa_domain.responses)

    async def render(
        message: Dict[str, Any],
        slots: Dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> Dict[str, Any]:
        message = dict(message)
        tracker = DialogueStateTracker.from_events(
            "patient",
            [SlotSet(name, value) for name, value in (slots or {}).items()],
            slots=rasa_domain.slots,
        )
        name = message.pop("response", None)
        if name:
            draft = await nlg.generate(name, tracker, channel, **message)
            assert draft, f"no response {name!r} in domain.yml"
        else:
            draft = {}
        buttons = message.pop("buttons", None) or []
        if buttons:
            draft.setdefault("buttons", [])
            draft["buttons"].extend(buttons)
        draft.update({key: value for key, value in message.items() if value})
        return draft

    return render
