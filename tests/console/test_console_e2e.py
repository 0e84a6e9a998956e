"""The staff console with the real bot: the issue's bar, end to end, in a browser.

Real Rasa and action servers (one start for the module) and the console on one
SQLite database. A patient talks over the REST channel; another patient, on
Rasa's `callback` channel (an output channel that can receive pushed messages,
like the widget and SMS), asks for a person. Signed in as the bootstrap admin,
staff find the REST conversation, see its intents and confidences, mark it
reviewed, reply to the open handoff (the reply reaches the patient's channel)
and hand the conversation back to the bot.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import List

import pytest
import requests
import yaml
from playwright.sync_api import expect

from bot.db.engine import get_engine
from tests.support.console import sign_in
from tests.support.paths import ROOT

RESPONSES = yaml.safe_load((ROOT / "data" / "responses" / "faq.yml").read_text())[
    "responses"
]

pytestmark = [pytest.mark.model, pytest.mark.server, pytest.mark.browser]
TOKEN = "console-e2e-token-0123456789abcdef"


@pytest.fixture(scope="module")
def stack(callback_product):
    """Rasa + action server (REST and callback channels) and the console, shared
    with the handoff service's tests (`callback_product` in tests/conftest.py)."""
    servers = callback_product.servers
    return SimpleNamespace(
        servers=servers,
        outbox=callback_product.outbox,
        console_url=servers.console_url,
        url=callback_product.url,
    )


def rest(stack, sender: str, text: str) -> List[str]:
    response = requests.post(
        stack.servers.base_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return [m.get("text", "") for m in response.json()]


def callback(stack, sender: str, text: str) -> None:
    response = requests.post(
        stack.servers.base_url + "/webhooks/callback/webhook",
        json={"sender": sender, "message": text},
        timeout=60,
    )
    assert response.status_code == 200, response.text


def test_staff_find_review_and_answer_a_patient(stack, browser):
    rest_patient, widget_patient = "e2e-rest-patient", "e2e-callback-patient"
    assert rest(stack, rest_patient, "is ketamine therapy safe?")
    callback(stack, widget_patient, "what is ketamine")
    callback(stack, widget_patient, "can I talk to a person")
    assert any("staff" in t for t in stack.outbox.texts_for(widget_patient))

    context = browser.new_context(base_url=stack.console_url)
    page = context.new_page()
    page.set_default_timeout(20000)
    try:
        sign_in(page, stack.console_url, next_path="/conversations")
        page.fill("#filters [name=q]", "ketamine therapy safe")
        page.click("#filters button[type=submit]")
        page.click(f"text={rest_patient}")
        page.wait_for_url(re.compile(r"/conversations/view"))
        assert page.locator("#channel").inner_text() == "rest"
        message = page.locator("li.msg.user").first
        assert message.locator("code.intent").inner_text() == "faq"
        assert message.locator("code.answer-key").inner_text() == "is_it_safe"
        for confidence in message.locator(".confidence").all_inner_texts():
            assert re.fullmatch(r"[01]\.\d\d", confidence)
        assert page.locator("li.msg.bot").count() >= 2  # notice + answer
        page.click("#mark-reviewed")
        expect(page.locator("#review-status")).to_have_text("reviewed")

        page.goto("/handoffs")
        row = page.locator("#handoff-rows tr", has_text=widget_patient)
        expect(row).to_have_count(1)
        row.locator("button", has_text="Claim").click()
        page.wait_for_url(re.compile(r"/conversations/view"))
        stack.outbox.clear()
        reply = "Hello, this is Dana from the clinic. How can I help?"
        page.fill("#reply-form textarea[name=text]", reply)
        page.click("#reply-form button[type=submit]")
        expect(page.locator(".notice")).to_have_text("Reply sent to the patient.")
        assert stack.outbox.texts_for(widget_patient) == [reply]
        assert reply in page.locator("li.msg.bot.staff").last.inner_text()

        callback(stack, widget_patient, "thanks, one more question")
        assert stack.outbox.texts_for(widget_patient) == [reply]  # bot stays quiet
        page.click("text=Hand back to the bot")
        expect(page.locator(".notice")).to_contain_text("back with the bot")
        callback(stack, widget_patient, "how long does the relief last")
        relief = RESPONSES["utter_faq/relief_duration"][0]["text"].split("\n\n")[0]
        texts = stack.outbox.texts_for(widget_patient)
        assert any(relief in text for text in texts)  # the bot answers, not a fallback
        assert not any("didn't quite get that" in text for text in texts)
    finally:
        context.close()
    with get_engine(stack.url).connect() as connection:
        actions = {
            a
            for (a,) in connection.exec_driver_sql(
                "SELECT action FROM console_audit_log WHERE object_id = ?",
                (widget_patient,),
            )
        }
    assert {"claim", "reply", "resume", "view"} <= actions
