"""Every shared dialogue name in `bot.vocabulary` exists where Rasa defines it.

Renaming an intent, action, response or slot in `domain.yml` without renaming it in
`bot/vocabulary.py` fails here, instead of silently breaking the code that uses it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from bot import vocabulary

ROOT = Path(__file__).resolve().parents[2]
CATALOG = yaml.safe_load((ROOT / "catalog" / "faq-catalog.yml").read_text())


# Slot values rather than names, checked on their own below.
VALUES = ("NO_EMAIL",)


def _names():
    return {
        constant: value
        for constant, value in vars(vocabulary).items()
        if constant.isupper() and isinstance(value, str) and constant not in VALUES
    }


@pytest.fixture(scope="module")
def rasa_domain():
    from rasa.shared.core.domain import Domain

    # The FAQ answers live beside their training data (data/responses/).
    return Domain.load([str(ROOT / "domain.yml"), str(ROOT / "data" / "responses")])


def test_the_module_only_holds_names_and_the_form_slots():
    kinds = {type(v) for k, v in vars(vocabulary).items() if k.isupper()}
    assert kinds == {str, tuple}
    values = [*_names().values(), *(getattr(vocabulary, v) for v in VALUES)]
    assert len(values) == len(set(values)), "each name is defined once"


@pytest.mark.parametrize("constant", sorted(_names()))
def test_every_name_is_defined_by_the_domain_credentials_or_rasa(rasa_domain, constant):
    name = getattr(vocabulary, constant)
    known = (
        set(rasa_domain.intents)
        | set(rasa_domain.action_names_or_texts)
        | set(rasa_domain.responses)
        | {slot.name for slot in rasa_domain.slots}
        | set(rasa_domain.entities)
        | set(vocabulary.CHANNELS)
        # a retrieval intent's answers (data/responses/) are sent by `utter_<intent>`
        | {name.split("/")[0] for name in rasa_domain.responses if "/" in name}
    )
    assert name in known, f"{constant} = {name!r} is not in domain.yml"


def test_every_intent_of_the_domain_and_catalog_has_its_constant(rasa_domain):
    declared = yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]
    names = set(_names().values())
    assert set(declared) <= names
    assert set(CATALOG["intents"]) <= names
    assert vocabulary.NLU_FALLBACK in rasa_domain.intents


@pytest.mark.parametrize(
    "constant", [c for c in _names() if c.startswith(("ACTION_", "VALIDATE_"))]
)
def test_every_action_exists_in_the_domain(rasa_domain, constant):
    assert getattr(vocabulary, constant) in rasa_domain.action_names_or_texts


def test_the_form_and_its_slots_match_the_domain(rasa_domain):
    assert vocabulary.INTAKE_FORM in rasa_domain.form_names
    form = rasa_domain.forms[vocabulary.INTAKE_FORM]
    assert tuple(form["required_slots"]) == vocabulary.INTAKE_FORM_SLOTS


@pytest.mark.parametrize("constant", [c for c in _names() if c.startswith("UTTER_")])
def test_every_response_exists_in_the_domain(rasa_domain, constant):
    name = getattr(vocabulary, constant)
    if name == vocabulary.UTTER_FAQ:  # sends the retrieval intent's answers
        assert name == f"utter_{vocabulary.FAQ}"
        assert any(r.startswith(f"{name}/") for r in rasa_domain.responses)
        return
    assert name in rasa_domain.responses, name


def test_every_slot_exists_in_the_domain(rasa_domain):
    slots = {slot.name for slot in rasa_domain.slots}
    for name in (vocabulary.CRISIS_FLAGGED, *vocabulary.INTAKE_FORM_SLOTS):
        assert name in slots, name
    assert vocabulary.REQUESTED_SLOT in slots


def test_every_channel_is_a_configured_input_channel():
    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text())
    names = set()
    for path in credentials:
        module, _, cls = path.rpartition(".")
        names.add(getattr(importlib.import_module(module), cls).name())
    assert set(vocabulary.CHANNELS) == names


def test_channel_variants_of_responses_name_known_channels():
    responses = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]
    variants = {
        variant["channel"]
        for texts in responses.values()
        for variant in texts
        if "channel" in variant
    }
    assert variants and variants <= set(vocabulary.CHANNELS)


def test_the_skipped_email_value_is_the_one_the_summary_knows(rasa_domain):
    variants = rasa_domain.responses[vocabulary.UTTER_ASK_INTAKE_CONFIRMED]
    conditions = [c for variant in variants for c in variant.get("condition") or []]
    assert conditions == [
        {"type": "slot", "name": vocabulary.EMAIL, "value": vocabulary.NO_EMAIL}
    ]


def test_every_entity_has_its_constant(rasa_domain):
    assert set(rasa_domain.entities) == {vocabulary.CONDITION, vocabulary.MEDICATION}
