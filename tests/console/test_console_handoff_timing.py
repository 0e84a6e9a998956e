"""The handoff queue's times and the waiting notice, through running consoles.

Real console processes (`python -m bot.console serve`) over HTTP, a real database,
and a loopback server standing in for Rasa's HTTP API (`tests/support/rasa_stub.py`)
that records what would reach the patient. `HANDOFF_TARGET_MINUTES` is 15; the
handoffs are opened in the past (their `created_at` set back), as if the patients had
been waiting that long.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from bot.db.engine import get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import Handoff, utcnow
from tests.support.clinic_time import ALWAYS_OPEN, daytime_zone
from tests.support.console import ADMIN, http_sign_in, run_console, sign_in
from tests.support.databases import module_database
from tests.support.handoffs import handoff_opened_at, waiting_notices
from tests.support.net import free_port
from tests.support.paths import ROOT
from tests.support.rasa_stub import RasaStub
from tests.support.servers import Command, started

OVER = "over-" + "1" * 26  # REST conversation ids
ANSWERED = "answered-" + "2" * 20
FRESH = "fresh-" + "3" * 20
ANSWERED_LATER = "later-" + "6" * 20


def clinic_env(rasa: RasaStub) -> dict:
    return {
        "RASA_PORT": str(rasa.port),
        "HANDOFF_TARGET_MINUTES": "15",
        "CLINIC_HOURS": ALWAYS_OPEN,
        "CLINIC_TIMEZONE": daytime_zone(),
    }


def opened(engine, conversation_id, minutes_ago, **values) -> int:
    """A handoff opened `minutes_ago` (claimed or answered `values` minutes after)."""
    start = utcnow() - timedelta(minutes=minutes_ago)
    after = {k: start + timedelta(minutes=m) for k, m in values.items()}
    if "claimed_at" in after:
        after.update(status="claimed", claimed_by=ADMIN[0])
    return handoff_opened_at(engine, conversation_id, start, **after)


@pytest.fixture(scope="module")
def clinic(tmp_path_factory):
    """One console with four handoffs: over target, two answered, fresh."""
    tmp = tmp_path_factory.mktemp("handoff-timing")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)
    engine = get_engine(url)
    ids = {
        "over": opened(engine, OVER, 20),
        "answered": opened(engine, ANSWERED, 30, claimed_at=2, first_reply_at=5),
        "fresh": opened(engine, FRESH, 1),
        "later": opened(engine, ANSWERED_LATER, 40, claimed_at=4, first_reply_at=9),
    }
    rasa = RasaStub()
    with run_console(url, tmp / "console.log", extra_env=clinic_env(rasa)) as base:
        yield base, engine, ids, rasa
    rasa.close()


def test_the_console_tells_the_patient_waiting_past_the_target_once(clinic):
    base, engine, ids, rasa = clinic
    deadline = time.monotonic() + 30  # the console sweeps as it starts
    while not waiting_notices(rasa, OVER) and time.monotonic() < deadline:
        time.sleep(0.2)
    (notice,) = waiting_notices(rasa, OVER)
    assert "longer than usual" in notice["text"]
    assert notice["data"]["buttons"][0]["payload"] == "Yes, please contact me"
    assert waiting_notices(rasa, ANSWERED) == [] and waiting_notices(rasa, FRESH) == []
    with session_scope(engine) as session:
        assert session.get(Handoff, ids["over"]).waiting_notice_at is not None
    feed = http_sign_in(base).get(base + "/handoffs.json").json()
    told = {item["id"]: item["waiting_notice"] for item in feed["items"]}
    assert told == {i: i == ids["over"] for i in ids.values()}


def test_the_queue_shows_the_times_and_marks_the_one_over_target(clinic):
    base, engine, ids, rasa = clinic
    session = http_sign_in(base)
    feed = session.get(base + "/handoffs.json").json()
    assert (feed["over_target"], feed["target_minutes"]) == (1, 15)
    items = {item["id"]: item for item in feed["items"]}
    over, answered, fresh = (items[ids[k]] for k in ("over", "answered", "fresh"))
    assert over["over_target"] is True and 1190 <= over["waiting_seconds"] <= 1300
    assert over["to_claim_seconds"] is None and over["to_first_reply_seconds"] is None
    assert over["waiting"] == "20 min"
    assert answered["over_target"] is False and answered["waiting_seconds"] is None
    assert (answered["to_claim_seconds"], answered["to_first_reply_seconds"]) == (
        120,
        300,
    )
    assert fresh["over_target"] is False and fresh["waiting_seconds"] < 900
    page = session.get(base + "/handoffs").text
    rows = {}
    for handoff_id in ids.values():
        start = page.index(f'data-handoff-id="{handoff_id}"')
        rows[handoff_id] = page[start : page.index("</tr>", start)]
    assert "waiting 20 min <strong" in rows[ids["over"]]
    assert "Over target" in rows[ids["over"]]
    assert "Over target" not in rows[ids["answered"]]
    assert "claimed after 2 min" in rows[ids["answered"]]
    assert "first reply after 5 min" in rows[ids["answered"]]
    assert "Over target" not in rows[ids["fresh"]]
    # Medians of the week: to claim of 2 and 4 min, to first reply of 5 and 9 min.
    assert "median time to claim 3 min (2 claimed)" in page
    assert "median time to first reply 7 min (2 answered)" in page


@pytest.mark.browser
def test_the_page_script_marks_a_handoff_that_goes_over_target(clinic, browser):
    base, engine, ids, rasa = clinic
    context = browser.new_context(base_url=base)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        sign_in(page, base, next_path="/handoffs")
        late = opened(engine, "late-" + "4" * 20, 40)  # appears by the page's polling
        row = page.locator(f'#handoff-rows tr[data-handoff-id="{late}"]')
        expect(row).to_contain_text("Over target", timeout=15000)
        expect(row).to_contain_text("waiting 40 min")
        expect(row).to_have_class("over-target")
        answered = page.locator(
            f'#handoff-rows tr[data-handoff-id="{ids["answered"]}"]'
        )
        expect(answered).to_contain_text("first reply after 5 min")
        expect(answered).not_to_contain_text("Over target")
    finally:
        context.close()


@pytest.mark.postgres
def test_two_consoles_starting_together_send_one_notice_each(tmp_path):
    """Two console processes sweep the same PostgreSQL database as they start."""
    rasa = RasaStub(delay=0.3)  # Rasa slow to answer: room for the race
    with module_database("postgresql", tmp_path) as url:
        upgrade(url)
        engine = get_engine(url)
        waiting = [f"race-{n}-" + "5" * 20 for n in range(4)]
        for conversation in waiting:
            opened(engine, conversation, 25)
        env = {
            "PYTHONPATH": str(ROOT),
            "APP_ENV": "local",
            "DATABASE_URL": url,
            "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
            "RASA_API_TOKEN": "console-test-token-0123456789",
            **clinic_env(rasa),
        }
        consoles = []
        for n in range(2):
            port = free_port()
            consoles.append(
                Command(
                    name=f"console {n}",
                    argv=[sys.executable, "-m", "bot.console", "serve"]
                    + ["--port", str(port)],
                    env={**os.environ, **env},
                    log_path=tmp_path / f"console{n}.log",
                    health_url=f"http://127.0.0.1:{port}/healthz",
                )
            )
        with started(*consoles):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if all(waiting_notices(rasa, c) for c in waiting):
                    break
                time.sleep(0.2)
            time.sleep(2)  # a second notice would have come by now
        for conversation in waiting:
            assert len(waiting_notices(rasa, conversation)) == 1, conversation
    rasa.close()
