"""Intake form and handoff conversations through the REST channel, end to end.

Real Rasa and action servers on loopback, the session's trained model, a temporary
SQLite database with the project's migrations; each conversation checks what the
patient reads and what lands in `intake_requests` / `handoffs`.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from sqlalchemy import create_engine, text

from bot.db.migrate import upgrade
from tests.support.servers import run_servers

pytestmark = [pytest.mark.model, pytest.mark.server]


@pytest.fixture(scope="module")
def bot(product):
    return Bot(product.base_url, product.database_url, product.log_dir)


class Bot:
    """A patient's side of the REST channel, plus a look into the database."""

    def __init__(self, base_url: str, database_url: str, log_dir) -> None:
        self.base_url = base_url
        self.engine = create_engine(database_url)
        self.log_dir = log_dir

    def say(self, sender: str, message: str) -> str:
        body = json.dumps({"sender": sender, "message": message}).encode()
        request = urllib.request.Request(
            self.base_url + "/webhooks/rest/webhook",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            replies = json.loads(response.read())
        return "\n\n".join(r.get("text", "") for r in replies)

    def rows(self, table: str, sender: str):
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    text(f"select * from {table} where conversation_id = :c"),
                    {"c": sender},
                )
                .mappings()
                .all()
            )


def test_full_form_with_invalid_values_an_faq_detour_and_a_correction(bot):
    p = "patient-intake-1"
    assert "full name" in bot.say(p, "I want to sign up")
    assert "phone number" in bot.say(p, "Ana Lopez")
    assert "looks short" in bot.say(p, "555-1234")
    assert "email" in bot.say(p, "(617) 555-0178")
    detour = bot.say(p, "is ketamine therapy safe?")
    assert "safe" in detour and "email" in detour  # the answer, then back to the form
    assert "doesn't look right" in bot.say(p, "ana@")
    assert "what pain or condition" in bot.say(p, "skip")
    assert "best time" in bot.say(p, "burning pain in both feet from diabetes")
    assert "best time" in bot.say(p, "actually my number is 617 555 0143")
    assert "agree" in bot.say(p, "weekday mornings")
    assert "only contact you with your OK" in bot.say(p, "no")
    summary = bot.say(p, "yes")
    assert "+16175550143" in summary and "Ana Lopez" in summary and "send it" in summary
    assert "Thank you, Ana" in bot.say(p, "yes")
    (row,) = bot.rows("intake_requests", p)
    assert row["full_name"] == "Ana Lopez"
    assert row["phone_e164"] == "+16175550143"
    assert row["email"] is None
    assert row["condition"] == "burning pain in both feet from diabetes"
    assert row["best_time"] == "weekday mornings"
    assert row["consent"] in (True, 1) and row["status"] == "new"
    assert row["channel"] == "rest"


def test_cancel_keeps_nothing(bot):
    p = "patient-intake-2"
    bot.say(p, "book a consultation")
    bot.say(p, "Sam Rivera")
    assert "stopped" in bot.say(p, "never mind")
    assert bot.rows("intake_requests", p) == []
    assert "safe" in bot.say(p, "is ketamine therapy safe?")  # the bot carries on


def test_a_crisis_in_the_middle_of_the_form_gets_guidance(bot):
    p = "patient-intake-3"
    bot.say(p, "sign me up")
    reply = bot.say(p, "i want to kill myself")
    assert "988" in reply and "911" in reply
    (handoff,) = bot.rows("handoffs", p)
    assert handoff["reason"] == "crisis" and handoff["urgent"] in (True, 1)


def test_request_human_opens_a_handoff_and_the_bot_goes_quiet(bot):
    p = "patient-handoff-1"
    bot.say(p, "how much does it cost?")
    assert "staff" in bot.say(p, "I want to talk to a person")
    (handoff,) = bot.rows("handoffs", p)
    assert (handoff["reason"], handoff["status"]) == ("logistics", "open")
    assert "how much does it cost?" in handoff["summary"]
    assert bot.say(p, "hello? is anyone there") == ""  # paused until staff resume


def fill_form(bot, p):
    """A patient completes the form the short way."""
    bot.say(p, "please have the clinic contact me")
    bot.say(p, "Jo Park")
    bot.say(p, "617 555 0198")
    bot.say(p, "jo@example.org")
    bot.say(p, "shooting pain in my left leg")
    bot.say(p, "after 5pm")
    bot.say(p, "yes")
    return bot.say(p, "yes")


def test_phone_numbers_and_emails_stay_out_of_the_logs(bot, tmp_path_factory):
    p = "patient-intake-logs"
    assert "Thank you, Jo" in fill_form(bot, p)
    assert len(bot.rows("intake_requests", p)) == 1
    for log in bot.log_dir.glob("*.log"):
        content = log.read_text(errors="replace")
        for secret in ("5550198", "555 0198", "jo@example.org", "shooting pain"):
            assert secret not in content, f"{secret!r} found in {log.name}"


@pytest.mark.postgres
def test_the_same_form_on_postgresql(trained_model, tmp_path_factory, postgres_url):
    import uuid

    upgrade(postgres_url)
    tmp = tmp_path_factory.mktemp("intake-pg")
    env = {"DATABASE_URL": postgres_url, "CLINIC_HOURS": "Mon-Sun 00:00-23:59"}
    with run_servers(trained_model, tmp, extra_env=env) as servers:
        pg_bot = Bot(servers.base_url, postgres_url, servers.log_dir)
        p = f"patient-pg-{uuid.uuid4().hex[:8]}"
        assert "Thank you, Jo" in fill_form(pg_bot, p)
        (row,) = pg_bot.rows("intake_requests", p)
        assert (row["phone_e164"], row["email"]) == ("+16175550198", "jo@example.org")
        with pg_bot.engine.connect() as connection:
            events = connection.execute(
                text("select count(*) from events where sender_id = :s"), {"s": p}
            ).scalar()
        assert events > 10  # Rasa's tracker store wrote to the same database
