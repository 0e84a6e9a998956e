"""NLU figures over time: every `make bench` run of the report sets, with its commit.

`make bench` appends one JSON line per run to `docs/nlu-history.jsonl` (tracked in
git): the date, the commit (and whether the tree had uncommitted changes), the
machine, and for each report set the product's and the baseline's figures from the
same run. Runs on the dev sets, or of candidate configs, are not the product's
figures and are not appended. `docs/nlu-trend.md` is rendered from the history
(`python benchmarks/history.py` writes it; `make bench` does it after appending), and
a test keeps the two in step.

The first lines were copied by hand from the runs recorded in docs/benchmarks.md
before this file existed; they say so in `source`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

ROOT = Path(__file__).resolve().parents[1]
HISTORY = ROOT / "docs" / "nlu-history.jsonl"
TREND = ROOT / "docs" / "nlu-trend.md"
PRODUCT = "rasa"
BASELINE = "tfidf-logreg-baseline"
# The figures kept per set and variant (shares of the set, as `make bench` prints).
KEPT = (
    "right_outcome",
    "wrong_faq_answer",
    "did_you_mean",
    "crisis_recall",
    "false_alarm",
)
SET_TITLES = {
    "heldout": "Held-out paraphrases",
    "real_questions": "Real questions (first set)",
    "real_questions_fresh": "Real questions, fresh",
    "off_domain": "Off-domain",
    "crisis": "Crisis + ordinary (first set)",
    "crisis_fresh": "Crisis + ordinary, fresh",
}
SPARKS = "▁▂▃▄▅▆▇█"


def commit() -> Dict[str, Any]:
    """The checked-out commit and whether the work tree differs from it."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    return {
        "commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def entry(record: Dict[str, Any], when: Optional[datetime] = None) -> Dict[str, Any]:
    """One history line from `nlu_bench`'s record of a run (see its `--json`)."""
    runs = {run["variant"]: run for run in record["runs"]}
    product, baseline = runs[PRODUCT], runs.get(BASELINE, {"sets": {}})
    sets = {}
    for name, figures in product["sets"].items():
        sets[name] = {
            "messages": figures["messages"],
            "product": {k: figures[k] for k in KEPT},
            "baseline": {
                k: baseline["sets"][name][k] for k in KEPT if name in baseline["sets"]
            },
        }
    when = when or datetime.now(timezone.utc)
    return {
        "date": when.strftime("%Y-%m-%d"),
        **commit(),
        "source": "make bench",
        "machine": record["machine"],
        "training_examples": record["training_examples"],
        "train_seconds": product.get("train_seconds"),
        "parse_ms_p95": product.get("parse_ms_p95"),
        "sets": sets,
    }


def load(path: Path = HISTORY) -> List[Dict[str, Any]]:
    """Every run in the history, oldest first (an absent file is an empty history)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def append(line: Dict[str, Any], path: Path = HISTORY) -> None:
    """Adds one run at the end of the history."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def sparkline(values: Iterable[Optional[float]]) -> str:
    """A one-line picture of a series (higher is a taller bar); gaps as spaces."""
    present = [v for v in values if v is not None]
    if not present:
        return ""
    low, high = min(present), max(present)
    span = (high - low) or 1.0
    return "".join(
        " " if v is None else SPARKS[round((v - low) / span * (len(SPARKS) - 1))]
        for v in values
    )


def render(entries: List[Dict[str, Any]]) -> str:
    """The trend page: per report set, one row per run, oldest first."""
    out = [
        "# NLU figures over time",
        "",
        "Rendered by `python benchmarks/history.py` from `docs/nlu-history.jsonl`, to",
        "which every `make bench` run of the report sets appends its figures and its",
        "commit; do not edit by hand. The baseline is the TF-IDF + logistic-regression",
        "model trained on the same data in the same run. A commit marked `+` had",
        "uncommitted changes. How the sets were made and used: tests/nlu/README.md;",
        "the reading of each run: docs/benchmarks.md.",
        "",
    ]
    names = [n for n in SET_TITLES if any(n in e["sets"] for e in entries)]
    for name in names:
        rows = [e for e in entries if name in e["sets"]]
        right = [e["sets"][name]["product"].get("right_outcome") for e in rows]
        wrong = [e["sets"][name]["product"].get("wrong_faq_answer") for e in rows]
        out += [
            f"## {SET_TITLES[name]}",
            "",
            f"Right outcome, run by run: `{sparkline(right)}`; wrong curated answer:"
            f" `{sparkline(wrong)}` (each scaled to its own range).",
            "",
            "| date | commit | messages | right | wrong answer | Did you mean"
            " | crisis recall | false alarm | baseline right | baseline wrong |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for e in rows:
            figures = e["sets"][name]
            product, baseline = figures["product"], figures.get("baseline", {})
            cells = [
                e["date"],
                f"`{e['commit']}`" + ("+" if e.get("dirty") else ""),
                str(figures["messages"]),
                *(_percent(product.get(k)) for k in KEPT),
                _percent(baseline.get("right_outcome")),
                _percent(baseline.get("wrong_faq_answer")),
            ]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    sources = sorted({e["source"] for e in entries if e["source"] != "make bench"})
    if sources:
        out += ["Runs not appended by `make bench` itself:", ""]
        out += [f"- {s}" for s in sources]
        out.append("")
    return "\n".join(out)


def write_trend(history: Path = HISTORY, trend: Path = TREND) -> None:
    """Renders the trend page from the history."""
    trend.write_text(render(load(history)), encoding="utf-8")


if __name__ == "__main__":
    write_trend()
    print(f"wrote {TREND.relative_to(ROOT)} from {len(load())} runs", file=sys.stderr)
