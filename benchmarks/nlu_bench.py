"""NLU benchmark: accuracy on held-out messages, speed and memory (`make bench`).

Trains the assistant from scratch (the same `rasa train` as `make run`), loads it,
parses every held-out message of tests/nlu/heldout.yml and prints:
- top-1 accuracy, wrong-FAQ-answer rate, fallback rate, crisis recall and
  out-of-scope recall, for the Rasa model and for a TF-IDF + logistic-regression
  baseline trained on the same data in the same run;
- training time, model load time, parse latency p50/p95 and peak memory.

`--variant whitespace` also trains the pipeline with Rasa's WhitespaceTokenizer in
place of the project's spaCy pipeline, to show what spaCy's lemmas buy.
Results go to stdout (and `--json FILE`); docs/benchmarks.md records a run.
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

from bot.nlu import evaluation  # noqa: E402
from bot.nlu.spacy_pipeline import ensure_pipeline  # noqa: E402

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"


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


async def evaluate_model(model: Path, examples):
    """Loads the model, parses every example; returns scores, load time, latencies."""
    from rasa.core.agent import Agent

    started = time.perf_counter()
    agent = Agent.load(str(model))
    load_seconds = time.perf_counter() - started
    await agent.parse_message("warm up")
    predictions, latencies = [], []
    for text, _ in examples:
        t0 = time.perf_counter()
        parse = await agent.parse_message(text)
        latencies.append((time.perf_counter() - t0) * 1000)
        predictions.append(evaluation.predicted_label(parse))
    return evaluation.score(examples, predictions), load_seconds, latencies


def baseline(train_examples, examples) -> evaluation.Scores:
    """TF-IDF (word and character n-grams) + logistic regression, no threshold."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    model = make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=2000, C=10),
    )
    texts, labels = zip(*train_examples, strict=True)
    model.fit(texts, labels)
    return evaluation.score(examples, model.predict([t for t, _ in examples]))


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


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) of values."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run_variant(name: str, config: Path, tmp: Path, examples) -> dict:
    """Trains and evaluates one pipeline variant."""
    model, train_seconds = train(config, tmp / name)
    scores, load_seconds, latencies = asyncio.run(evaluate_model(model, examples))
    return {
        "variant": name,
        **scores.summary(),
        "train_seconds": round(train_seconds, 1),
        "load_seconds": round(load_seconds, 2),
        "parse_ms_p50": round(statistics.median(latencies), 1),
        "parse_ms_p95": round(percentile(latencies, 95), 1),
        "errors": scores.errors,
    }


def main() -> None:
    """Runs the benchmark and prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument(
        "--variant", choices=["whitespace"], action="append", default=[]
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()

    ensure_pipeline()
    examples = evaluation.load_examples(args.heldout)
    train_examples = evaluation.load_many(sorted((ROOT / "data" / "nlu").glob("*.yml")))
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "heldout_messages": len(examples),
        "training_examples": len(train_examples),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results["runs"].append(
            run_variant("rasa-spacy", ROOT / "config.yml", tmp, examples)
        )
        if "whitespace" in args.variant:
            results["runs"].append(
                run_variant("rasa-whitespace", whitespace_config(tmp), tmp, examples)
            )
    started = time.perf_counter()
    base = baseline(train_examples, examples)
    results["runs"].append(
        {
            "variant": "tfidf-logreg-baseline",
            **base.summary(),
            "train_seconds": round(time.perf_counter() - started, 1),
            "errors": base.errors,
        }
    )
    results["peak_memory_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0
    )

    columns = [
        "variant",
        "top1_accuracy",
        "wrong_faq_rate",
        "fallback_rate",
        "crisis_recall",
        "out_of_scope_recall",
        "train_seconds",
        "load_seconds",
        "parse_ms_p50",
        "parse_ms_p95",
    ]
    print(
        f"\n{results['machine']}; {len(train_examples)} training examples, "
        f"{len(examples)} held-out messages ({args.heldout.name})"
    )
    print(" | ".join(columns))
    for run in results["runs"]:
        print(" | ".join(str(run.get(c, "-")) for c in columns))
    print(f"peak memory (RSS, whole benchmark process): {results['peak_memory_mb']} MB")
    if args.show_errors:
        for run in results["runs"]:
            print(f"\nErrors of {run['variant']}:")
            for text, label, prediction in run["errors"]:
                print(f"  {label:38} -> {prediction:38} {text}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
