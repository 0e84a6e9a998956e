"""NLU benchmark: every evaluation set beside a baseline, speed, memory (`make bench`).

Trains the assistant from scratch (the same `rasa train` as `make run`), loads it,
parses every message of the report sets under tests/nlu/ (held-out paraphrases, real
patient questions, off-domain messages, crisis and ordinary messages) and prints,
for the Rasa model and for a TF-IDF + logistic-regression baseline trained on the
same data in the same run: right outcome, curated-answer and wrong-curated-answer
rates, out-of-scope rate, "Did you mean" rate, crisis recall and false-alarm rate;
then training time, model load time, parse latency p50/p95 and peak memory.

`--sets dev` measures the dev sets instead (those used for error analysis and
threshold choice; never reported as the product's figures). `--variant whitespace`
also trains the pipeline with Rasa's WhitespaceTokenizer in place of the project's
spaCy pipeline; `--config NAME=PATH` trains and measures another config beside
it (a candidate change, chosen on the dev sets). Results go to stdout (and
`--json FILE`); docs/benchmarks.md records a run. A run of the report sets is
appended, with its commit, to docs/nlu-history.jsonl and docs/nlu-trend.md is
rendered again (`benchmarks/history.py`; `--no-history` skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import history  # noqa: E402
from benchmarks.stats import percentile  # noqa: E402
from bot.nlu import evaluation  # noqa: E402
from bot.nlu.second_opinion import fit_second_opinion  # noqa: E402
from bot.nlu.spacy_pipeline import ensure_pipeline  # noqa: E402

NLU_SETS = ROOT / "tests" / "nlu"
REPORT_SETS = [
    "heldout",
    "real_questions",
    "real_questions_fresh",
    "real_questions_fresh2",
    "real_questions_fresh3",
    "off_domain",
    "crisis",
    "crisis_fresh",
]


def train(config: Path, output: Path) -> tuple[Path, float]:
    """Trains a full model (NLU and dialogue); returns its path and the seconds."""
    from rasa.model_training import train as rasa_train

    started = time.perf_counter()
    result = rasa_train(
        domain=str(ROOT / "domain.yml"),
        config=str(config),
        training_files=[str(ROOT / "data")],
        output=str(output),
        fixed_model_name="bench",
        force_training=True,
    )
    return Path(result.model), time.perf_counter() - started


async def evaluate_model(model: Path, sets):
    """Loads the model, parses every message; returns outcomes, load time, latencies."""
    from rasa.core.agent import Agent

    started = time.perf_counter()
    agent = Agent.load(str(model))
    load_seconds = time.perf_counter() - started
    await agent.parse_message("warm up")
    results, latencies = {}, []
    for name, cases in sets.items():
        predictions = []
        for case in cases:
            t0 = time.perf_counter()
            parse = await agent.parse_message(case.text)
            latencies.append((time.perf_counter() - t0) * 1000)
            predictions.append(evaluation.predicted_label(parse))
        results[name] = evaluation.outcomes(cases, predictions)
    return results, load_seconds, latencies


def baseline(train_examples, sets) -> dict:
    """TF-IDF (word and character n-grams) + logistic regression, no threshold.

    The same classifier the product asks for a second opinion
    (`bot.nlu.second_opinion`), here alone: its label is the outcome.
    """
    model = fit_second_opinion(train_examples)
    return {
        name: evaluation.outcomes(cases, model.predict([c.text for c in cases]))
        for name, cases in sets.items()
    }


def whitespace_config(tmp: Path) -> Path:
    """config.yml with Rasa's WhitespaceTokenizer instead of the spaCy pipeline."""
    import yaml

    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline = []
    for component in config["pipeline"]:
        if component["name"] in ("SpacyNLP", "SpacyEntityExtractor"):
            continue
        if component["name"] == "SpacyTokenizer":
            component = {"name": "WhitespaceTokenizer"}
        pipeline.append(component)
    config["pipeline"] = pipeline
    path = tmp / "config-whitespace.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_variant(name: str, config: Path, tmp: Path, sets) -> dict:
    """Trains and evaluates one pipeline variant."""
    model, train_seconds = train(config, tmp / name)
    outcomes, load_seconds, latencies = asyncio.run(evaluate_model(model, sets))
    return {
        "variant": name,
        "sets": outcomes,
        "train_seconds": round(train_seconds, 1),
        "load_seconds": round(load_seconds, 2),
        "parse_ms_p50": round(statistics.median(latencies), 1),
        "parse_ms_p95": round(percentile(latencies, 95), 1),
    }


FIGURES = [
    "right_outcome",
    "faq_answer",
    "wrong_faq_answer",
    "out_of_scope",
    "did_you_mean",
    "crisis_recall",
    "false_alarm",
]


def load_sets(kind: str) -> dict:
    """The report sets (tests/nlu/*.yml) or the dev sets (tests/nlu/dev/*.yml)."""
    folder = NLU_SETS if kind == "report" else NLU_SETS / "dev"
    return {
        name: evaluation.load_cases(folder / f"{name}.yml")
        for name in REPORT_SETS
        if (folder / f"{name}.yml").exists()
    }


def main() -> None:
    """Runs the benchmark and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", choices=["report", "dev"], default="report")
    parser.add_argument(
        "--variant", choices=["whitespace"], action="append", default=[]
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also train and measure this config beside config.yml (repeatable)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="do not append this run to docs/nlu-history.jsonl",
    )
    args = parser.parse_args()

    ensure_pipeline()
    sets = load_sets(args.sets)
    train_examples = evaluation.load_many(sorted((ROOT / "data" / "nlu").glob("*.yml")))
    runs = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runs.append(run_variant("rasa", ROOT / "config.yml", tmp, sets))
        if "whitespace" in args.variant:
            runs.append(
                run_variant("rasa-whitespace", whitespace_config(tmp), tmp, sets)
            )
        for named in args.config:
            name, _, path = named.partition("=")
            runs.append(run_variant(name, Path(path), tmp, sets))
    started = time.perf_counter()
    base = baseline(train_examples, sets)
    runs.append(
        {
            "variant": "tfidf-logreg-baseline",
            "sets": base,
            "train_seconds": round(time.perf_counter() - started, 1),
        }
    )
    peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0)
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(f"\n{machine}; {len(train_examples)} training examples; {args.sets} sets")
    print(" | ".join(["set", "variant", "messages", *FIGURES]))
    for name in sets:
        for run in runs:
            summary = run["sets"][name].summary()
            row = [name, run["variant"], summary["messages"]]
            cells = row + [summary[f] for f in FIGURES]
            print(" | ".join("-" if v is None else str(v) for v in cells))
    print("\nvariant | train_seconds | load_seconds | parse_ms_p50 | parse_ms_p95")
    for run in runs:
        print(
            " | ".join(
                str(run.get(c, "-"))
                for c in (
                    "variant",
                    "train_seconds",
                    "load_seconds",
                    "parse_ms_p50",
                    "parse_ms_p95",
                )
            )
        )
    print(f"peak memory (RSS, whole benchmark process): {peak_mb} MB")
    if args.show_errors:
        for run in runs:
            for name, outcome in run["sets"].items():
                print(f"\nErrors of {run['variant']} on {name}:")
                for text, label, prediction in outcome.errors:
                    print(f"  {label:34} -> {prediction:34} {text[:150]}")
    record = {
        "machine": machine,
        "sets": args.sets,
        "training_examples": len(train_examples),
        "peak_memory_mb": peak_mb,
        "runs": [
            {
                **{k: v for k, v in run.items() if k != "sets"},
                "sets": {n: o.summary() for n, o in run["sets"].items()},
            }
            for run in runs
        ],
    }
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))
    if args.sets == "report" and not args.no_history:
        history.append(history.entry(record))
        history.write_trend()
        print(f"appended to {history.HISTORY.relative_to(ROOT)}; see docs/nlu-trend.md")


if __name__ == "__main__":
    main()
