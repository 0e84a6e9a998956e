"""Human-readable names of the FAQ answers, for "Did you mean...?" buttons.

Each catalog key has a short button title and a canonical question. A button's
payload is the canonical question itself, not an `/intent` code: it reads well in
the conversation log, over SMS ("reply 1, 2 or 3") and if a patient types it. Every
canonical question is also a training example of its key (tests check both).
Both are patient-facing text, so they live in the text catalog of each language
(`bot/texts/en.yml`, section `topics`), read on first use.
"""

from functools import cache
from typing import Dict, NamedTuple

from bot.texts import DEFAULT_LANGUAGE, catalog

_PREFIX = "topics."


class Topic(NamedTuple):
    """How one FAQ answer is offered to a patient."""

    title: str
    question: str


@cache
def topics(language: str = DEFAULT_LANGUAGE) -> Dict[str, Topic]:
    """Every FAQ answer's button in `language`, by catalog key."""
    entries = catalog(language)
    keys = sorted({key.split(".")[1] for key in entries if key.startswith(_PREFIX)})
    return {
        key: Topic(
            entries[f"{_PREFIX}{key}.title"], entries[f"{_PREFIX}{key}.question"]
        )
        for key in keys
    }
