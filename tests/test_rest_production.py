"""The REST channel with `APP_ENV=production`: a token, or nothing gets through.

The real Rasa and action servers on loopback, started like production
(`APP_ENV=production`, long random secrets), with `REST_CHANNEL_TOKEN` set.
Without the token in `Authorization: Bearer`, nothing reaches the conversation.
"""

from __future__ import annotations

import secrets
import sqlite3

import pytest
import requests

from tests.support.servers import run_servers

pytestmark = [pytest.mark.model, pytest.mark.server]

REST_TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def production(trained_model, tmp_path_factory):
    env = {
        "APP_ENV": "production",
        "REST_CHANNEL_TOKEN": REST_TOKEN,
        "RASA_API_TOKEN": secrets.token_urlsafe(32),
        "ACTION_SERVER_TOKEN": secrets.token_urlsafe(32),
        "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
        "SMS_ID_SECRET": secrets.token_urlsafe(32),
    }
    tmp = tmp_path_factory.mktemp("rest-production")
    with run_servers(trained_model, tmp, env) as servers:
        yield servers


def post(servers, sender: str, headers=None) -> requests.Response:
    return requests.post(
        servers.base_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": "is ketamine therapy safe?"},
        headers=headers or {},
        timeout=60,
    )


def stored(servers, sender: str) -> int:
    with sqlite3.connect(servers.db_path) as db:
        (count,) = db.execute(
            "select count(*) from events where sender_id = ?", (sender,)
        ).fetchone()
    return count


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {REST_TOKEN[:-1]}"},
        {"Authorization": f"Basic {REST_TOKEN}"},
        {"Authorization": REST_TOKEN},
        {"X-Token": REST_TOKEN},
    ],
    ids=["none", "wrong", "prefix", "basic", "no-scheme", "other-header"],
)
def test_an_unauthenticated_message_is_refused_and_not_stored(production, headers):
    sender = "unauthenticated"
    answer = post(production, sender, headers)
    assert answer.status_code == 401
    assert "token" in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert stored(production, sender) == 0


def test_the_token_in_the_query_string_is_not_enough(production):
    answer = requests.post(
        production.base_url + "/webhooks/rest/webhook",
        params={"token": REST_TOKEN},
        json={"sender": "query-token", "message": "hi"},
        timeout=60,
    )
    assert answer.status_code == 401
    assert stored(production, "query-token") == 0


def test_a_message_with_the_token_is_answered(production):
    answer = post(production, "authorised", {"Authorization": f"Bearer {REST_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert any("ketamine" in m.get("text", "").lower() for m in answer.json())
    assert stored(production, "authorised") > 0
