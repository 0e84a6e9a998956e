"""NLU figures over time (`benchmarks/history.py`): appended runs and the trend page."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from benchmarks import history

FIGURES = {
    "messages": 10,
    "right_outcome": 0.9,
    "faq_answer": 0.5,
    "wrong_faq_answer": 0.1,
    "out_of_scope": 0.2,
    "did_you_mean": 0.0,
    "crisis_recall": 0.0,
    "false_alarm": 0.0,
}


def record(right: float) -> dict:
    """A run as `nlu_bench` records it (its `--json` shape)."""
    return {
        "machine": "x86_64, 2 cores, Python 3.10",
        "sets": "report",
        "training_examples": 5404,
        "peak_memory_mb": 2000,
        "runs": [
            {
                "variant": "rasa",
                "train_seconds": 200.0,
                "parse_ms_p95": 30.0,
                "sets": {"heldout": {**FIGURES, "right_outcome": right}},
            },
            {"variant": "tfidf-logreg-baseline", "sets": {"heldout": FIGURES}},
        ],
    }


def test_a_run_is_appended_with_its_commit_and_both_variants(tmp_path):
    path = tmp_path / "history.jsonl"
    when = datetime(2026, 12, 7, tzinfo=timezone.utc)
    history.append(history.entry(record(0.95), when), path)
    history.append(history.entry(record(0.97), when), path)
    runs = history.load(path)
    assert [r["sets"]["heldout"]["product"]["right_outcome"] for r in runs] == [
        0.95,
        0.97,
    ]
    first = runs[0]
    assert first["date"] == "2026-12-07"
    assert first["commit"] != "unknown" and len(first["commit"]) == 12
    assert first["sets"]["heldout"]["baseline"]["right_outcome"] == 0.9
    assert first["train_seconds"] == 200.0
    page = history.render(runs)
    assert "95.0%" in page and "97.0%" in page and first["commit"] in page
    assert "## Held-out paraphrases" in page


def test_a_sparkline_rises_with_the_figure():
    assert history.sparkline([0.1, 0.5, 0.9]) == "▁▅█"
    assert history.sparkline([0.5, None, 0.5]) == "▁ ▁"
    assert history.sparkline([]) == ""


def test_the_recorded_history_is_well_formed():
    runs = history.load()
    assert runs, "docs/nlu-history.jsonl has no run"
    for run in runs:
        assert run["date"] and run["commit"] and run["source"]
        for figures in run["sets"].values():
            assert figures["messages"] > 0
            for variant in ("product", "baseline"):
                for value in figures.get(variant, {}).values():
                    assert value is None or 0.0 <= value <= 1.0


def test_the_trend_page_is_rendered_from_the_history():
    rendered = history.render(history.load())
    assert history.TREND.read_text(encoding="utf-8") == rendered, (
        "docs/nlu-trend.md is out of date: run `python benchmarks/history.py`"
    )


@pytest.mark.parametrize("line", history.HISTORY.read_text().splitlines())
def test_every_history_line_is_one_json_object(line):
    assert isinstance(json.loads(line), dict)
