"""End to end: the real action server and Rasa server on loopback, over HTTP."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request

import pytest
import yaml

from tests.support.paths import ROOT

pytestmark = [pytest.mark.model, pytest.mark.server]

ANSWERS = yaml.safe_load((ROOT / "data" / "responses" / "faq.yml").read_text())[
    "responses"
]
NOTICE = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]["utter_notice"][
    0
]["text"]


@pytest.fixture(scope="module")
def server(product):
    return {
        "base": product.base_url,
        "db": product.db_path,
        "logs": product.log_dir,
        "token": product.token,
    }


def request(url, body=None, token=None, raw=None, method=None):
    data = (
        raw
        if raw is not None
        else (json.dumps(body).encode() if body is not None else None)
    )
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:  # Rasa's --auth-token is checked as the `token` query parameter
        url += ("&" if "?" in url else "?") + f"token={token}"
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def say(server, sender, text):
    """The bot's replies as whole texts (Rasa's REST channel sends each paragraph of
    a reply as its own message; consecutive parts are joined back here)."""
    status, replies = request(
        server["base"] + "/webhooks/rest/webhook", {"sender": sender, "message": text}
    )
    assert status == 200, replies
    return [r.get("text", "") for r in replies]


def joined(texts):
    return "\n\n".join(texts)


def test_first_message_gets_the_notice_then_the_curated_answer(server):
    texts = say(server, "patient-safe", "is ketamine therapy safe?")
    assert texts[0] == NOTICE
    assert joined(texts[1:]) == ANSWERS["utter_faq/is_it_safe"][0]["text"]


def test_notice_is_not_repeated_within_a_session(server):
    say(server, "patient-twice", "hello")
    texts = say(server, "patient-twice", "how long does the relief last")
    assert NOTICE not in texts
    assert joined(texts) == ANSWERS["utter_faq/relief_duration"][0]["text"]


def test_crisis_gets_emergency_guidance_and_is_flagged(server):
    texts = say(server, "patient-crisis", "i took a whole bottle of pills")
    reply = joined(texts)
    assert "911" in reply and "988" in reply
    assert not any(a[0]["text"] in reply for a in ANSWERS.values())
    status, tracker = request(
        server["base"] + "/conversations/patient-crisis/tracker", token=server["token"]
    )
    assert status == 200
    assert tracker["slots"]["crisis_flagged"] is True


def test_http_api_requires_the_token(server):
    status, _ = request(server["base"] + "/conversations/patient-crisis/tracker")
    assert status == 401
    status, _ = request(
        server["base"] + "/conversations/patient-crisis/tracker", token="wrong"
    )
    assert status == 401


@pytest.mark.parametrize(
    "text",
    ["", "   ", "a" * 4_000, "\x00\x01 binary \xff", "<script>alert(1)</script>"],
)
def test_odd_messages_get_a_clear_answer(server, text):
    texts = say(server, "patient-odd", text)
    assert texts and all(isinstance(t, str) for t in texts)


def test_malformed_body_is_refused_without_crashing(server):
    status, _ = request(server["base"] + "/webhooks/rest/webhook", raw=b"\xff not json")
    assert 400 <= status < 500
    assert say(server, "patient-after-bad-body", "what is ketamine")


def test_conversation_is_stored_in_the_database(server):
    say(server, "patient-stored", "what causes nerve pain")
    with sqlite3.connect(server["db"]) as db:
        rows = db.execute(
            "select type_name from events where sender_id = ?", ("patient-stored",)
        ).fetchall()
    assert ("user",) in rows and ("bot",) in rows
