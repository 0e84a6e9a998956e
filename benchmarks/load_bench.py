"""Load benchmark: the Rasa server beside Rasa's standard components (make bench-load).

Starts, one after the other on free loopback ports, the product (its `bot.serve`
commands: action server and Rasa server, the SQLite tracker store of `make run`)
and a reference: the same domain, data and action server with Rasa's standard
components only (WhitespaceTokenizer, count vectors, DIET, ResponseSelector,
FallbackClassifier; RulePolicy, MemoizationPolicy, TEDPolicy; Rasa's REST channel
and its SQL tracker store on SQLite). For each it prints:

- time to ready (process start to the first answered message);
- requests/s and latency p50/p95/p99 at each concurrency (8-message
  conversations over `POST /webhooks/rest/webhook`), and errors;
- the Rasa process's RSS after the load, and its peak;
- the cost of a turn late in a long conversation against a fresh one.

`--postgres URL --redis URL` adds the product on PostgreSQL with one worker and with
two (`WORKERS=2`, a schema of its own per run, left in place). Both models are
trained in the run unless `--product-model` / `--reference-model`
point at trained ones. Not part of `make test`: timings belong here, measured side
by side in one run, not in timed tests. docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.stats import percentile  # noqa: E402
from bot.serve import commands  # noqa: E402
from bot.settings import load_settings  # noqa: E402

# One patient conversation: FAQs, small talk, an off-topic message and thanks.
CONVERSATION = [
    "hello",
    "is ketamine safe?",
    "how fast does it work",
    "isn't that a party drug?",
    "what are the side effects",
    "what's the weather tomorrow",
    "how long does the relief last",
    "thanks, bye",
]
READY_SECONDS = 300
REQUEST_SECONDS = 60


@dataclass
class Running:
    """A started variant: its processes, where Rasa listens, its database."""

    processes: Dict[str, subprocess.Popen]
    base_url: str
    ready_seconds: float
    database_url: str = ""


def free_port() -> int:
    """A free TCP port on loopback."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train(config: Path, out: Path) -> Path:
    """Trains a model from the project's domain and data with `config`."""
    from rasa.api import train as rasa_train

    from bot.nlu.spacy_pipeline import ensure_pipeline

    ensure_pipeline()
    result = rasa_train(
        domain=str(ROOT / "domain.yml"),
        config=str(config),
        training_files=[str(ROOT / "data")],
        output=str(out),
    )
    if result.code != 0 or not result.model:
        raise SystemExit(f"training with {config} failed")
    return Path(result.model)


def reference_config(tmp: Path) -> Path:
    """The product's config with every custom component replaced by Rasa's own."""
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline: List[dict] = [{"name": "WhitespaceTokenizer"}]
    for component in config["pipeline"]:
        if component["name"] in ("CountVectorsFeaturizer", "ResponseSelector"):
            pipeline.append(component)
        elif component["name"] == "DIETClassifier":
            pipeline.append(component)
    pipeline.append({"name": "FallbackClassifier", "threshold": 0.5})
    config["pipeline"] = pipeline
    config["policies"] = [
        {"name": "RulePolicy", "core_fallback_threshold": 0.3},
        {"name": "MemoizationPolicy", "max_history": 4},
        {"name": "TEDPolicy", "max_history": 4, "epochs": 40, "random_seed": 42},
    ]
    path = tmp / "config-reference.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def wait_ready(url: str, process: subprocess.Popen, started: float) -> float:
    """Seconds from `started` until `url` answers a patient message."""
    deadline = started + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}) while starting")
        try:
            answer = requests.post(
                url, json={"sender": "ready-check", "message": "hello"}, timeout=5
            )
            if answer.status_code == 200 and answer.json():
                return time.monotonic() - started
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    raise SystemExit(f"not ready within {READY_SECONDS} s")


def start_product(
    model: Path,
    tmp: Path,
    database_url: str = "",
    workers: int = 1,
    redis_url: str = "",
) -> Running:
    """The product's action server and Rasa server, as `make run` starts them.

    SQLite under `tmp` unless `database_url` is given; `workers` > 1 needs
    PostgreSQL and `redis_url`, and the product is ready once every worker is.
    """
    action_port, rasa_port = free_port(), free_port()
    extra = {"WORKERS": str(workers)}
    if redis_url:
        extra["REDIS_URL"] = redis_url
    settings = load_settings(
        {
            "DATABASE_URL": database_url or f"sqlite:///{tmp / 'product.db'}",
            "RASA_API_TOKEN": secrets.token_urlsafe(24),
            "ACTION_PORT": str(action_port),
            "RASA_PORT": str(rasa_port),
            "WIDGET_PORT": str(free_port()),
            "CONSOLE_PORT": str(free_port()),
            "CHAT_RATE_LIMIT": "100000/60",
            **extra,
        }
    )
    from bot.db.migrate import upgrade

    upgrade(settings.database_url)
    env = {**settings.child_environment(), "CHAT_RATE_LIMIT": "100000/60"}
    cmds = commands(settings, model)
    log_dir = tmp / f"product-{workers}w-{secrets.token_hex(3)}"
    running = _start(
        {name: cmds[name] for name in ("action server", "rasa server")},
        env,
        f"http://127.0.0.1:{rasa_port}",
        log_dir,
        workers=workers,
    )
    running.database_url = settings.database_url
    return running


def start_reference(model: Path, tmp: Path) -> Running:
    """Rasa's own server with its REST channel and SQL tracker store on SQLite."""
    action_port, rasa_port = free_port(), free_port()
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'unused.db'}",
            "ACTION_PORT": str(action_port),
            "RASA_PORT": str(rasa_port),
        }
    )
    (tmp / "reference").mkdir(exist_ok=True)
    credentials = tmp / "reference" / "credentials.yml"
    credentials.write_text("rest:\n")
    endpoints = tmp / "reference" / "endpoints.yml"
    endpoints.write_text(
        yaml.safe_dump(
            {
                "action_endpoint": {
                    "url": f"http://127.0.0.1:{action_port}/webhook",
                    "headers": {
                        "Authorization": f"Bearer {settings.action_server_token}"
                    },
                },
                "tracker_store": {
                    "type": "SQL",
                    "dialect": "sqlite",
                    "db": str(tmp / "reference.db"),
                },
            }
        )
    )
    env = settings.child_environment()
    python = sys.executable
    cmds = {
        "action server": commands(settings, model)["action server"],
        "rasa server": [
            python,
            "-m",
            "rasa",
            "run",
            "--model",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(credentials),
            "--interface",
            "127.0.0.1",
            "--port",
            str(rasa_port),
        ],
    }
    return _start(cmds, env, f"http://127.0.0.1:{rasa_port}", tmp / "reference")


def _start(cmds, env, base_url: str, log_dir: Path, workers: int = 0) -> Running:
    """Starts the commands; ready at the first answer, or when `workers` log so."""
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    processes = {
        name: subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=open(log_dir / f"{name.replace(' ', '_')}.log", "w"),
            stderr=subprocess.STDOUT,
        )
        for name, cmd in cmds.items()
    }
    ready = wait_ready(
        base_url + "/webhooks/rest/webhook", processes["rasa server"], started
    )
    log = log_dir / "rasa_server.log"
    while (
        workers > 1 and log.read_text(errors="replace").count("worker ready") < workers
    ):
        if time.monotonic() - started > READY_SECONDS:
            raise SystemExit(f"not all {workers} workers ready in {READY_SECONDS} s")
        time.sleep(0.2)
    ready = time.monotonic() - started if workers > 1 else ready
    return Running(processes, base_url, ready)


def stop(running: Running) -> None:
    """Stops every process of a variant."""
    for process in running.processes.values():
        process.terminate()
    for process in running.processes.values():
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def rss_mb(pid: int) -> Dict[str, float]:
    """Resident memory (now and peak) of a process and its children, in MB."""
    figures = {"rss_mb": 0.0, "peak_mb": 0.0}
    pids = [pid] + _children(pid)
    for one in pids:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                figures["rss_mb"] += int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                figures["peak_mb"] += int(line.split()[1]) / 1024
    return {key: round(value) for key, value in figures.items()}


def _children(pid: int) -> List[int]:
    try:
        out = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = [int(child) for child in out]
    for child in list(found):
        found.extend(_children(child))
    return found


def converse(url: str, sender: str, messages: List[str], latencies, errors) -> None:
    """Sends one conversation, recording each turn's latency or error."""
    with requests.Session() as session:
        for message in messages:
            began = time.perf_counter()
            try:
                answer = session.post(
                    url,
                    json={"sender": sender, "message": message},
                    timeout=REQUEST_SECONDS,
                )
                ok = answer.status_code == 200 and bool(answer.json())
            except (requests.RequestException, ValueError):
                ok = False
            elapsed = (time.perf_counter() - began) * 1000
            if ok:
                latencies.append(elapsed)
            else:
                errors.append(message)


def load(running: Running, concurrency: int, conversations: int, tag: str) -> dict:
    """`conversations` 8-message conversations, `concurrency` at a time."""
    url = running.base_url + "/webhooks/rest/webhook"
    latencies: List[float] = []
    errors: List[str] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:  # list.append is atomic
        for number in range(conversations):
            pool.submit(
                converse,
                url,
                f"{tag}-c{concurrency}-{number}",
                CONVERSATION,
                latencies,
                errors,
            )
    seconds = time.perf_counter() - began
    return {
        "concurrency": concurrency,
        "requests": len(latencies) + len(errors),
        "errors": len(errors),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
    }


def long_conversation(running: Running, turns: int, tag: str) -> dict:
    """Median turn cost over the last 20 of `turns` messages against the first 20."""
    url = running.base_url + "/webhooks/rest/webhook"
    latencies: List[float] = []
    errors: List[str] = []
    messages = [CONVERSATION[i % len(CONVERSATION)] for i in range(turns)]
    converse(url, f"{tag}-long", messages, latencies, errors)
    fresh = statistics.median(latencies[:20])
    late = statistics.median(latencies[-20:])
    return {
        "turns": turns,
        "errors": len(errors),
        "fresh_ms": round(fresh, 1),
        "late_ms": round(late, 1),
        "ratio": round(late / fresh, 2),
    }


def measure(name: str, running: Running, args) -> dict:
    """Every figure of one started variant."""
    rasa_pid = running.processes["rasa server"].pid
    load(running, 2, 4, f"{name}-warm")  # first-use work out of the figures
    levels = [
        load(running, level, max(args.conversations, level * 2), name)
        for level in args.levels
    ]
    memory = rss_mb(rasa_pid)
    lost = lost_messages(running, name, levels)
    long = long_conversation(running, args.long, name)
    return {
        "variant": name,
        "ready_s": round(running.ready_seconds, 1),
        "levels": levels,
        **memory,
        "lost": lost,
        "long": long,
    }


def lost_messages(running: Running, tag: str, levels: List[dict]) -> Optional[int]:
    """Answered messages of the load not stored (negative: stored twice)."""
    if not running.database_url:
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(running.database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(
                text(
                    "select count(*) from events where type_name = 'user' "
                    "and sender_id like :tag"
                ),
                {"tag": f"{tag}-c%"},
            ).scalar_one()
    finally:
        engine.dispose()
    answered = sum(level["requests"] - level["errors"] for level in levels)
    return answered - int(stored)


def print_table(results: List[dict]) -> None:
    """The figures as Markdown tables."""
    print(
        "| variant | ready s | RSS MB | peak MB | lost | "
        + " | ".join(
            f"c={level['concurrency']} req/s | p50 | p95 | p99 | errors"
            for level in results[0]["levels"]
        )
        + " |"
    )
    print("|---" * (5 + 5 * len(results[0]["levels"])) + "|")
    for result in results:
        cells = [
            result["variant"],
            str(result["ready_s"]),
            str(result["rss_mb"]),
            str(result["peak_mb"]),
            "-" if result.get("lost") is None else str(result["lost"]),
        ]
        for level in result["levels"]:
            cells += [
                str(level["requests_per_s"]),
                str(level["p50_ms"]),
                str(level["p95_ms"]),
                str(level["p99_ms"]),
                str(level["errors"]),
            ]
        print("| " + " | ".join(cells) + " |")
    print()
    print("| variant | turns | fresh turn ms | late turn ms | late / fresh |")
    print("|---|---|---|---|---|")
    for result in results:
        long = result["long"]
        print(
            f"| {result['variant']} | {long['turns']} | {long['fresh_ms']} | "
            f"{long['late_ms']} | {long['ratio']} |"
        )


def _on_postgres(base_url: str, workers: int, redis_url: str):
    """A start function for the product on a fresh schema of `base_url`."""

    def start(model: Path, tmp: Path) -> Running:
        import uuid

        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        engine = create_engine(base_url)
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        engine.dispose()
        url = make_url(base_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        return start_product(
            model,
            tmp,
            database_url=url.render_as_string(hide_password=False),
            workers=workers,
            redis_url=redis_url if workers > 1 else "",
        )

    return start


def main() -> None:
    """Trains (or takes) both models, measures each in turn, prints the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product-model", type=Path)
    parser.add_argument("--reference-model", type=Path)
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument("--conversations", type=int, default=12)
    parser.add_argument("--long", type=int, default=200)
    parser.add_argument("--only", choices=["product", "reference"])
    parser.add_argument(
        "--postgres",
        help="also run the product on this PostgreSQL (a schema of its own) with "
        "1 and with 2 workers; needs --redis",
    )
    parser.add_argument("--redis", help="Redis URL for the 2-worker run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.levels = [int(level) for level in args.levels.split(",")]

    with tempfile.TemporaryDirectory(prefix="load-bench-") as folder:
        tmp = Path(folder)
        variants = []
        if args.only != "reference":
            model = args.product_model or train(ROOT / "config.yml", tmp / "product")
            variants.append(("product", start_product, model))
        if args.only != "product":
            model = args.reference_model or train(
                reference_config(tmp), tmp / "reference"
            )
            variants.append(("rasa standard", start_reference, model))
        if args.postgres:
            if not args.redis:
                raise SystemExit("--postgres needs --redis")
            model = variants[0][2] if variants else args.product_model
            for workers in (1, 2):
                variants.append(
                    (
                        f"product pg {workers}w",
                        _on_postgres(args.postgres, workers, args.redis),
                        model,
                    )
                )
        results = []
        for name, start, model in variants:
            running = start(model, tmp)
            try:
                results.append(measure(name.replace(" ", "-"), running, args))
            finally:
                stop(running)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}"
    )
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
