"""Two Rasa workers (`WORKERS=2`) on PostgreSQL and Redis, as in production.

The real processes of `make run` on loopback, with a PostgreSQL schema of their own
and a Redis database of the tests; skipped with a message when either server is
missing. Messages to one conversation sent at once go through both workers; staff
replies reach widget sessions held by either worker; a worker killed mid-load loses
no message it accepted; Redis and PostgreSQL dropping every connection (as a
restart looks to a client) do not stop the next turns.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests
from sqlalchemy import create_engine, text

from bot.db.migrate import upgrade
from tests.support.databases import module_database
from tests.support.servers import run_servers
from tests.support.socketio_ws import WidgetSocket

pytestmark = [pytest.mark.model, pytest.mark.server, pytest.mark.postgres]

WORKER_START_SECONDS = 240
APPLICATION = "mspain-workers-test"


def worker_pids(servers) -> list:
    """The Rasa server's workers that loaded their model, from its log."""
    log = (servers.log_dir / "rasa_server.log").read_text(errors="replace")
    return [int(pid) for pid in re.findall(r"Rasa worker ready \(pid (\d+)\)", log)]


@pytest.fixture(scope="module")
def product(trained_model, tmp_path_factory, postgres_url, redis_url):
    tmp = tmp_path_factory.mktemp("workers")
    with module_database("postgresql", tmp) as schema_url:
        # Named, so the test that drops connections drops only the product's.
        url = f"{schema_url}&application_name={APPLICATION}"
        upgrade(url)
        env = {
            "DATABASE_URL": url,
            "WORKERS": "2",
            "REDIS_URL": redis_url,
            "CLINIC_HOURS": "Mon-Sun 00:00-23:59",  # staff in: a handoff pauses
            "CHAT_RATE_LIMIT": "1000/60",
        }
        with run_servers(trained_model, tmp, env) as servers:
            # "/" answers once one worker is up; wait for both models.
            deadline = time.monotonic() + WORKER_START_SECONDS
            while len(worker_pids(servers)) < 2:
                assert time.monotonic() < deadline, "the second worker did not start"
                time.sleep(0.5)
            yield servers


def say(servers, sender: str, message: str, timeout: float = 60) -> requests.Response:
    return requests.post(
        servers.base_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": message},
        timeout=timeout,
    )


def user_and_bot_events(servers, sender: str) -> list:
    engine = create_engine(servers.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "select type_name, data from events where sender_id = :s "
                    "and type_name in ('user', 'bot') order by id"
                ),
                {"s": sender},
            ).all()
    finally:
        engine.dispose()
    return [(kind, json.loads(data).get("text")) for kind, data in rows]


def test_two_workers_really_run(product):
    pids = worker_pids(product)
    assert len(set(pids)) == 2, pids
    log = (product.log_dir / "rasa_server.log").read_text(errors="replace")
    assert "Rasa server: 2 worker(s)" in log
    assert "socket.io across workers through Redis" in log


def test_messages_sent_at_once_are_all_stored_in_order_none_twice(product):
    sender = "workers-at-once"
    messages = [f"is ketamine safe? ({number})" for number in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda m: say(product, sender, m), messages))
    assert all(a.status_code == 200 and a.json() for a in answers)
    events = user_and_bot_events(product, sender)
    users = [message for kind, message in events if kind == "user"]
    assert sorted(users) == sorted(messages)  # all stored, none twice
    # One turn at a time: every message's answer comes before the next message
    # (the session's notice first).
    turns = "".join("u" if kind == "user" else "b" for kind, _ in events)
    assert re.fullmatch(r"b*(ub+){16}", turns), turns


def test_every_staff_reply_reaches_its_widget_session(product):
    from bot.db.engine import get_engine
    from bot.handoff import HandoffService

    sessions = 8

    async def run():
        widgets = [WidgetSocket(product.base_url) for _ in range(sessions)]
        for widget in widgets:
            await widget.__aenter__()
        try:
            for widget in widgets:
                await widget.start()
                await widget.say("I want to talk to a person")
                await widget.next_event("bot_uttered")
            engine = get_engine(product.database_url)
            service = HandoffService(product.base_url, product.token, engine=engine)
            for number, widget in enumerate(widgets):
                with engine.connect() as connection:
                    handoff_id = connection.execute(
                        text("select id from handoffs where conversation_id = :c"),
                        {"c": widget.session_id},
                    ).scalar_one()
                seen = len(widget.events)
                for reply in range(2):  # replies land on either worker
                    await asyncio.to_thread(
                        service.reply,
                        handoff_id,
                        f"Staff reply {number}.{reply}",
                        "Dana",
                    )
                for reply in range(2):
                    while not any(
                        event == "bot_uttered"
                        and data.get("text") == f"Staff reply {number}.{reply}"
                        for event, data in widget.events[seen:]
                    ):
                        await widget.next_event("bot_uttered", after=len(widget.events))
        finally:
            for widget in widgets:
                await widget.__aexit__()

    asyncio.run(run())


def test_redis_and_postgresql_dropping_every_connection_stop_no_turn(
    product, redis_url
):
    sender = "workers-restarts"
    assert say(product, sender, "how fast does it work?").json()
    # How a restart looks to a client: every connection closed under it.
    admin = create_engine(product.database_url)
    with admin.connect() as connection:
        dropped = connection.execute(
            text(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where application_name = :a and pid <> pg_backend_pid()"
            ),
            {"a": APPLICATION},
        ).scalar_one()
    assert dropped > 0
    admin.dispose()
    for kind in ("normal", "pubsub"):
        redis.Redis.from_url(redis_url).client_kill_filter(_type=kind, skipme=True)
    for message in ["is it safe?", "isn't that a party drug?", "thanks"]:
        answer = say(product, sender, message)
        assert answer.status_code == 200 and answer.json(), (message, answer.text)


def test_a_worker_killed_mid_load_loses_no_accepted_message(product):
    """Last: it leaves one worker (Sanic does not start a new one)."""
    senders = [f"workers-kill-{number}" for number in range(6)]
    accepted: dict = {sender: [] for sender in senders}

    def conversation(sender):
        for number in range(8):
            message = f"what are the side effects ({number})"
            try:
                # A turn takes well under a second; one in flight on the killed
                # worker would otherwise hang for the full minute.
                answer = say(product, sender, message, timeout=20)
            except requests.RequestException:
                continue  # in flight on the killed worker: not accepted
            if answer.status_code == 200 and answer.json():
                accepted[sender].append(message)

    victim = worker_pids(product)[0]
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(conversation, sender) for sender in senders]
        time.sleep(1.0)
        os.kill(victim, signal.SIGKILL)
        for future in futures:
            future.result()
    assert sum(len(messages) for messages in accepted.values()) > 0
    for sender, messages in accepted.items():
        stored = [
            m for kind, m in user_and_bot_events(product, sender) if kind == "user"
        ]
        for message in messages:
            assert stored.count(message) == 1, (sender, message, stored)
    assert say(product, "workers-after-kill", "is it safe?").json()  # still answers
