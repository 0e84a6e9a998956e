"""Rules decide every step: each intent has a rule, and no learned dialogue policy runs.

config.yml has no TEDPolicy (docs/benchmarks.md, "Load"): a turn no rule or story
covers gets the fallback. So an intent added to `domain.yml` without a rule would
only ever get the fallback; this test says which one instead.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# Produced by the NLU pipeline itself, answered by the rule on `nlu_fallback`.
PIPELINE_INTENTS = {"nlu_fallback"}
RULE_POLICIES = {"RulePolicy", "MemoizationPolicy"}


def _rules():
    for path in sorted((ROOT / "data" / "rules").glob("*.yml")):
        yield from yaml.safe_load(path.read_text()).get("rules", [])


def _intents_with_a_rule():
    return {
        step["intent"]
        for rule in _rules()
        for step in rule["steps"]
        if "intent" in step
    }


def test_every_intent_of_the_domain_has_a_rule():
    intents = {
        intent if isinstance(intent, str) else next(iter(intent))
        for intent in yaml.safe_load((ROOT / "domain.yml").read_text())["intents"]
    }
    missing = intents - _intents_with_a_rule()
    assert not missing, f"intents without a rule (only the fallback): {missing}"
    assert PIPELINE_INTENTS <= _intents_with_a_rule()


def test_only_rule_and_memoization_policies_run():
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    names = {policy["name"] for policy in config["policies"]}
    assert names == RULE_POLICIES, names
