"""Staff console benchmark: 100,000 conversations in Rasa's events table.

    python benchmarks/console_bench.py                      # SQLite under var/bench/
    python benchmarks/console_bench.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/console_bench.py --conversations 20000   # a quicker run

Generates synthetic conversations shaped like Rasa 3.6 stores them (session start,
two patient turns with intent, answer key and confidences, the bot's actions and
replies; some fallbacks, crises, handoffs and SMS senders; spread over a year),
then times what the console does: the first full summary refresh, an incremental
refresh after 100 new conversations, a refresh with nothing new, and the list
queries (newest first, later pages, each filter, text search), a transcript, the
overview and the Answers page (with a patient vote on one answer in twenty
conversations, a reason on half the "Not helpful" ones). Each query figure is the
median of 5 runs. On PostgreSQL the data goes into a schema of its own, dropped at
the end.

The figures of the last run are recorded in docs/console-benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402

from bot.console.answers import answer_detail, answers_page  # noqa: E402
from bot.console.overview import overview  # noqa: E402
from bot.db import summaries  # noqa: E402
from bot.db.engine import dispose_engines, get_engine  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.db.models import (  # noqa: E402
    VOTE_HELPFUL,
    VOTE_NOT_HELPFUL,
    AnswerFeedback,
    ConversationReview,
    ConversationTag,
    Handoff,
)
from bot.db.queries import conversations as conversation_queries  # noqa: E402
from bot.db.queries import corrections, transcripts  # noqa: E402

ZONE = ZoneInfo("America/New_York")
KEYS = list(corrections.answer_keys())
WORDS = "pain nerve ketamine safe relief side effects sleep burning feet hands".split()
RUNS = 5
BATCH = 20000

# Rasa's own table definition (its SQL tracker store's), not a copy.
EVENTS = SQLTrackerStore.SQLEvent.__table__


def _event(sender: str, kind: str, stamp: float, **data: Any) -> Dict[str, Any]:
    body = {"event": kind, "timestamp": stamp, "metadata": {}, **data}
    intent = (data.get("parse_data") or {}).get("intent", {}).get("name")
    return {
        "sender_id": sender,
        "type_name": kind,
        "timestamp": stamp,
        "intent_name": intent,
        "action_name": data.get("name"),
        "data": json.dumps(body),
    }


def _user(sender: str, stamp: float, rng: random.Random, channel: str):
    roll = rng.random()
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9)))
    if roll < 0.08:
        parse = {"intent": {"name": "nlu_fallback", "confidence": 0.3}}
        actions = ["action_clarify"]
    elif roll < 0.09:
        parse = {"intent": {"name": "crisis", "confidence": 1.0}}
        actions = ["action_crisis_response"]
    elif roll < 0.12:
        parse = {"intent": {"name": "request_human", "confidence": 0.95}}
        actions = ["action_handoff"]
    else:
        key = f"faq/{rng.choice(KEYS)}"
        confidence = round(rng.uniform(0.5, 1.0), 3)
        parse = {
            "intent": {"name": "faq", "confidence": confidence},
            "response_selector": {
                "faq": {
                    "response": {"intent_response_key": key, "confidence": confidence}
                }
            },
        }
        actions = ["utter_faq"]
    parse.update(text=text, entities=[])
    rows = [
        _event(
            sender, "user", stamp, text=text, parse_data=parse, input_channel=channel
        )
    ]
    for action in actions:
        rows.append(_event(sender, "action", stamp, name=action))
    rows.append(_event(sender, "bot", stamp, text="(answer)", data={}))
    rows.append(_event(sender, "action", stamp, name="action_listen"))
    return rows


def conversations(
    count: int, start_index: int, rng: random.Random, now: float
) -> Iterator[Dict[str, Any]]:
    """Events rows of `count` synthetic conversations, one after the other."""
    for number in range(start_index, start_index + count):
        sms = number % 10 == 0
        sender = f"+1555{number:07d}" if sms else f"web-{number:08d}"
        channel = "twilio" if sms else "socketio"
        stamp = now - rng.uniform(0, 365 * 86400)
        yield _event(sender, "action", stamp, name="action_session_start")
        yield _event(sender, "session_started", stamp)
        yield _event(sender, "action", stamp, name="action_listen")
        for turn in range(2):
            yield from _user(sender, stamp + 5 * turn + 1, rng, channel)


def insert(engine: Engine, rows: Iterator[Dict[str, Any]]) -> int:
    """Bulk-inserts rows in batches; returns how many."""
    total, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            with engine.begin() as connection:
                connection.execute(EVENTS.insert(), batch)
            total, batch = total + len(batch), []
    if batch:
        with engine.begin() as connection:
            connection.execute(EVENTS.insert(), batch)
        total += len(batch)
    return total


def timed(fn: Callable[[], Any], runs: int = 1) -> float:
    """Median wall time of `runs` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def list_query(engine: Engine, **args: str) -> Callable[[], Any]:
    """One list request (page of 50 and the total) with these filters."""
    f = conversation_queries.ConversationFilter.from_args(args)

    def run() -> Any:
        with engine.begin() as connection:
            return conversation_queries.list_conversations(connection, f, ZONE)

    return run


def staff_rows(engine: Engine, rng: random.Random, count: int) -> None:
    """Handoffs, reviews and tags on some conversations, like a working clinic."""
    ids = [
        f"web-{n:08d}" for n in rng.sample(range(1, count), k=min(2000, count // 10))
    ]
    with engine.begin() as connection:
        connection.execute(
            sa.insert(ConversationReview.__table__),
            [
                {"conversation_id": c, "status": "reviewed"}
                for c in ids[: len(ids) // 2]
            ],
        )
        connection.execute(
            sa.insert(ConversationTag.__table__),
            [{"conversation_id": c, "tag": "follow-up"} for c in ids[: len(ids) // 7]],
        )
        connection.execute(
            sa.insert(Handoff.__table__),
            [
                {
                    "conversation_id": c,
                    "channel": "socketio",
                    "reason": "requested",
                    "status": "closed",
                    "urgent": False,
                    "summary": "",
                }
                for c in ids[len(ids) // 2 : len(ids) * 3 // 4]
            ],
        )


def feedback_rows(engine: Engine, rng: random.Random, count: int) -> None:
    """Patient votes on one answer in twenty conversations (as the widget writes)."""
    rows = []
    for number in rng.sample(range(1, count), k=max(1, count // 20)):
        helpful = rng.random() < 0.7
        rows.append(
            {
                "conversation_id": f"web-{number:08d}",
                "answer_id": "5",
                "answer_key": rng.choice(KEYS),
                "vote": VOTE_HELPFUL if helpful else VOTE_NOT_HELPFUL,
                "reason": None if helpful or rng.random() < 0.5 else "not clear",
            }
        )
    with engine.begin() as connection:
        connection.execute(sa.insert(AnswerFeedback.__table__), rows)


def run(url: str, count: int) -> Dict[str, float]:
    """Builds the data set at `url` and returns the figures."""
    upgrade(url)
    engine = get_engine(url)
    EVENTS.create(engine, checkfirst=True)
    rng = random.Random(7)
    now = time.time()
    figures: Dict[str, float] = {}
    start = time.perf_counter()
    figures["events rows"] = insert(engine, conversations(count, 1, rng, now))
    figures["generate + insert events (s)"] = time.perf_counter() - start
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after Rasa wrote this much (plans need sizes).
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE events")
    staff_rows(engine, rng, count)
    feedback_rows(engine, rng, count)
    figures["full refresh (s)"] = timed(lambda: summaries.refresh(engine)) / 1000
    insert(engine, conversations(100, count + 1, rng, now))
    figures["incremental refresh, 100 new conversations (ms)"] = timed(
        lambda: summaries.refresh(engine, settle_seconds=0)
    )
    figures["refresh, nothing new (ms)"] = timed(
        lambda: summaries.refresh(engine, settle_seconds=0), RUNS
    )
    today = time.strftime("%Y-%m-%d")
    month_ago = time.strftime("%Y-%m-%d", time.localtime(now - 30 * 86400))
    cases = {
        "list, newest first, page 1": {},
        "list, page 100": {"page": "100"},
        "filter outcome=crisis": {"outcome": "crisis"},
        "filter outcome=handoff": {"outcome": "handoff"},
        "filter outcome=fallback": {"outcome": "fallback"},
        "filter answer_key": {"answer_key": KEYS[0]},
        "filter channel=twilio": {"channel": "twilio"},
        "filter last 30 days": {"from": month_ago, "to": today},
        "filter review=reviewed": {"review": "reviewed"},
        "filter review=unreviewed": {"review": "unreviewed"},
        "filter tag": {"tag": "follow-up"},
        "search 'burning feet'": {"q": "burning feet"},
        "search, no match": {"q": "zzzz not there"},
        "search + outcome + channel": {
            "q": "relief",
            "outcome": "answered",
            "channel": "socketio",
        },
    }
    for name, args in cases.items():
        figures[f"{name} (ms)"] = timed(list_query(engine, **args), RUNS)

    def transcript() -> Any:
        with engine.begin() as connection:
            return transcripts.transcript(connection, f"web-{count // 2:08d}")

    def figures_30_days() -> Any:
        with engine.begin() as connection:
            return overview(connection, ZONE)

    figures["transcript of one conversation (ms)"] = timed(transcript, RUNS)
    figures["overview page figures (ms)"] = timed(figures_30_days, RUNS)
    for period in ("30", "all"):

        def answers(period: str = period) -> Any:
            with engine.begin() as connection:
                return answers_page(connection, ZONE, period)

        figures[f"answers page figures, period {period} (ms)"] = timed(answers, RUNS)

    def reasons() -> Any:
        with engine.begin() as connection:
            return answer_detail(connection, ZONE, "all", KEYS[0])

    figures["one answer key's page, all time (ms)"] = timed(reasons, RUNS)
    return figures


def _postgres_schema_url(base: str) -> tuple[str, str]:
    schema = f"console_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False), schema


def _drop_schema(base: str, schema: str) -> None:
    admin = sa.create_engine(base, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


def report(backend: str, figures: Dict[str, float]) -> None:
    """Prints the figures as a markdown table."""
    print(f"\n### {backend}\n\n| measure | value |\n| --- | ---: |")
    for name, value in figures.items():
        shown = f"{value:,.0f}" if name == "events rows" else f"{value:,.1f}"
        print(f"| {name} | {shown} |")


def main(argv: List[str] | None = None) -> int:
    """Runs the benchmark on SQLite, and on PostgreSQL when given."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--postgres", help="PostgreSQL URL (a schema is made in it)")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args(argv)
    print(f"{args.conversations:,} conversations")
    if not args.skip_sqlite:
        path = ROOT / "var" / "bench" / "console_bench.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        report("SQLite", run(f"sqlite:///{path}", args.conversations))
        dispose_engines()
        path.unlink(missing_ok=True)
    if args.postgres:
        url, schema = _postgres_schema_url(args.postgres)
        try:
            report("PostgreSQL", run(url, args.conversations))
        finally:
            dispose_engines()
            _drop_schema(args.postgres, schema)
    return 0


if __name__ == "__main__":
    sys.exit(main())
