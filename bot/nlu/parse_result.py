"""The one reader of Rasa's parse result: intent, FAQ answer, ranking and routing.

A parse result is what Rasa's NLU makes of one message: the dict `/model/parse`
returns, the tracker's `latest_message` the actions see, and a stored `user` event's
`parse_data` the console reads. The NLU components read the same keys from a
`Message` while they build it. All of them go through these functions, so the shape
of Rasa's `response_selector` (an entry per retrieval intent, each with the selected
`response` and a `ranking` of `{"intent_response_key": "faq/<key>", "confidence":
...}`) is known in this module only.

The project's own components add two keys: `routing` (`ROUTING`: why the message
was routed as it was, ending with the one-line `decision` the console shows) and
`safety_text` (`SAFETY_TEXT`: the whole cleaned message, for the safety rules).

Holds: the keys; `Intent`, `Candidate` and `ParseResult`; `top_intent`,
`selection`, `faq_ranking`, `faq_answer`, `routing`, `decision` and `read`.

Pure Python (no Rasa import): the action server and the console use it too. Every
function accepts anything with a dict's `get`: a dict or a Rasa `Message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from bot.vocabulary import FAQ

# Rasa's keys.
INTENT = "intent"
NAME = "name"
CONFIDENCE = "confidence"
RESPONSE_SELECTOR = "response_selector"
RESPONSE = "response"
RANKING = "ranking"
RESPONSE_KEY = "intent_response_key"

# The project's keys, added by the components of bot/nlu/.
ROUTING = "routing"
SAFETY_TEXT = "safety_text"
# Fields of `routing` read by more than the component that writes them.
GATE = "gate"  # why a gate replaced the intent: OFF_DOMAIN or the AnswerGate's reason
SAFETY_RULE = "safety_rule"  # the safety or clinic-fact rule that fired
DOMAIN = "domain"  # the domain gate's evidence, with `in_domain`
OVERRIDDEN_INTENT = "overridden_intent"  # the intent the domain gate replaced
DECISION = "decision"  # one line on what the bot does and why
OFF_DOMAIN = "off_domain"
SECOND_OPINION = "second_opinion"  # the independent classifier's label (and a GATE)


@dataclass(frozen=True)
class Intent:
    """The top intent and the model's confidence in it."""

    name: Optional[str]
    confidence: float


@dataclass(frozen=True)
class Candidate:
    """One answer of the ResponseSelector's ranking."""

    response_key: str  # "faq/is_it_safe"
    confidence: float

    @property
    def key(self) -> str:
        """The catalog key, without the retrieval intent: "is_it_safe"."""
        return self.response_key.split("/", 1)[-1]


@dataclass(frozen=True)
class ParseResult:
    """What the staff console shows of one patient message's parse."""

    intent: Optional[str]
    intent_confidence: Optional[float]
    answer_key: Optional[str]  # the catalog key of the FAQ answer, if any
    answer_confidence: Optional[float]
    why: str  # the routing decision


def _mapping(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def top_intent(parse: Any) -> Intent:
    """The intent Rasa acts on (None when there is none)."""
    intent = _mapping(parse.get(INTENT))
    return Intent(intent.get(NAME), float(intent.get(CONFIDENCE) or 0.0))


def selection(parse: Any, retrieval_intent: str = FAQ) -> Dict[str, Any]:
    """The ResponseSelector's own entry for `retrieval_intent` (the dict itself).

    The FaqEnsemble rewrites this entry in place; everything else reads it through
    `faq_ranking` and `faq_answer`.
    """
    return _mapping(_mapping(parse.get(RESPONSE_SELECTOR)).get(retrieval_intent))


def faq_ranking(parse: Any, retrieval_intent: str = FAQ) -> List[Candidate]:
    """The selector's answers, best first, as it ranked them."""
    return [
        Candidate(
            str(entry.get(RESPONSE_KEY) or ""), float(entry.get(CONFIDENCE) or 0.0)
        )
        for entry in selection(parse, retrieval_intent).get(RANKING) or []
    ]


def faq_answer(parse: Any, retrieval_intent: str = FAQ) -> Optional[Candidate]:
    """The answer the selector picked (`utter_faq` sends it), or None."""
    response = _mapping(selection(parse, retrieval_intent).get(RESPONSE))
    key = response.get(RESPONSE_KEY)
    if not key:
        return None
    return Candidate(str(key), float(response.get(CONFIDENCE) or 0.0))


def routing(parse: Any) -> Dict[str, Any]:
    """The components' record of why the message was routed as it was."""
    return _mapping(parse.get(ROUTING))


def decision(parse: Any) -> str:
    """The one-line routing decision ("" for a message parsed without it)."""
    return str(routing(parse).get(DECISION) or "")


def read(parse: Any) -> ParseResult:
    """What the console shows of a message: intent, answer and the decision."""
    intent = _mapping(parse.get(INTENT))
    response = _mapping(selection(parse).get(RESPONSE))
    key = str(response.get(RESPONSE_KEY) or "")
    return ParseResult(
        intent=intent.get(NAME),
        intent_confidence=intent.get(CONFIDENCE),
        answer_key=key.split("/", 1)[1] if key.startswith(f"{FAQ}/") else None,
        answer_confidence=response.get(CONFIDENCE),
        why=decision(parse),
    )
