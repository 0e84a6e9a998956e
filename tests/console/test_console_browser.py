"""The staff console in a real browser (headless Chromium, Playwright), seeded data.

Sign-in, the conversation list and its filters, a transcript with labels and
confidences, a correction exported as Rasa NLU YAML, the intake list with its CSV
export, a new handoff appearing without a reload, hostile text shown as text.
The reply that reaches the patient's channel needs the real bot: see
test_console_e2e.py.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from bot.db.engine import session_scope
from bot.db.repository import open_handoff
from tests.support.console import ADMIN, http_sign_in, sign_in, totp_code
from tests.support.seed import XSS_IMG, XSS_SCRIPT

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, console):
    context = browser.new_context(base_url=console.url, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


def list_ids(page) -> list:
    return page.locator("#conversation-list a.conversation-link").all_inner_texts()


def test_sign_in_redirects_back_and_sign_out(page, console):
    http_sign_in(console.url)  # the admin's second factor is set up
    page.goto("/conversations?outcome=crisis")
    assert "/login" in page.url
    page.fill("input[name=email]", ADMIN[0])
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    page.locator(".notice.error").wait_for()
    page.fill("input[name=email]", ADMIN[0])
    page.fill("input[name=password]", ADMIN[1])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/login/totp"))
    page.fill("input[name=code]", totp_code(console.url, ADMIN[0]))
    page.click("#totp-form button[type=submit]")
    page.wait_for_url(re.compile(r"/conversations\?outcome=crisis$"))
    assert list_ids(page) == ["rest-crisis"]
    page.click("text=Sign out")
    page.wait_for_url(re.compile(r"/login$"))
    page.goto("/conversations")
    assert "/login" in page.url


def test_conversation_list_filters_and_search(page, console):
    sign_in(page, console.url, next_path="/conversations")
    everything = list_ids(page)
    assert everything[0] == "rest-human"  # newest first
    assert "+1******4567" in everything and "+15551234567" not in page.content()

    def apply(**fields) -> list:
        page.goto("/conversations")
        for name, value in fields.items():
            selector = f"#filters [name={name}]"
            if page.locator(selector).evaluate("e => e.tagName") == "SELECT":
                page.select_option(selector, value)
            else:
                page.fill(selector, value)
        page.click("#filters button[type=submit]")
        page.wait_for_load_state()
        return list_ids(page)

    assert apply(outcome="crisis") == ["rest-crisis"]
    assert apply(outcome="fallback") == ["rest-fallback"]
    assert apply(outcome="handoff") == ["rest-human", "rest-crisis"]
    assert apply(outcome="intake") == ["rest-hostile"]
    assert apply(outcome="answered") == ["rest-safety", "+1******4567"]
    assert apply(channel="twilio") == ["+1******4567"]
    assert apply(answer_key="relief_duration") == ["rest-safety"]
    assert apply(q="RELIEF last") == ["rest-safety"]
    assert apply(q="100%_") == []
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    assert "+1******4567" not in apply(**{"from": yesterday})
    assert apply(review="reviewed") == []

    page.goto("/conversations/view?id=rest-fallback")
    page.fill("input[name=tag]", "Follow-up")
    page.click("text=Add tag")
    page.click("#mark-reviewed")
    assert apply(review="reviewed") == ["rest-fallback"]
    assert apply(tag="follow-up") == ["rest-fallback"]
    assert "rest-fallback" not in apply(review="unreviewed")


def test_transcript_shows_intents_confidences_and_review(page, console):
    sign_in(page, console.url, next_path="/conversations")
    page.click("text=rest-safety")
    page.wait_for_url(re.compile(r"/conversations/view\?id=rest-safety"))
    first = page.locator("li.msg.user").first
    assert "is ketamine therapy safe?" in first.inner_text()
    assert first.locator("code.intent").inner_text() == "faq"
    assert first.locator("code.answer-key").inner_text() == "is_it_safe"
    assert first.locator(".confidence").all_inner_texts() == ["1.00", "0.91"]
    assert page.locator("li.msg.bot").count() == 2
    assert page.locator("#channel").inner_text() == "rest"
    page.click("#mark-reviewed")
    assert page.locator("#review-status").inner_text() == "reviewed"
    assert "Marked as reviewed." in page.locator(".notice").inner_text()
    page.fill("textarea[name=note]", "Patient asked twice; answer was right.")
    page.click("text=Save note")
    assert page.locator("textarea[name=note]").input_value().startswith("Patient")


def test_a_correction_is_exported_as_rasa_nlu_yaml(page, console):
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    sign_in(page, console.url, next_path="/conversations/view?id=rest-fallback")
    message = page.locator("li.msg.user").first
    message.locator("select[name=label]").select_option("faq/what_is_ketamine")
    message.locator("button", has_text="Correct").click()
    page.wait_for_load_state()
    assert (
        "corrected to faq/what_is_ketamine"
        in page.locator("li.msg.user").first.inner_text()
    )
    page.goto("/corrections")
    assert "blorf snik wub" in page.locator("table.list").inner_text()
    with page.expect_download() as info:
        page.click("#export-yaml")
    text = open(info.value.path(), encoding="utf-8").read()
    data = RasaYAMLReader().reads(text)
    examples = {
        (m.get("text"), m.get("intent_response_key") or m.get("intent"))
        for m in data.intent_examples
    }
    assert ("blorf snik wub", "faq/what_is_ketamine") in examples


def test_intake_list_detail_status_and_csv(page, console):
    sign_in(page, console.url, next_path="/intake")
    row = page.locator("#intake-list tbody tr").first
    assert "+1******6543" in row.inner_text() and "j***@example.org" in row.inner_text()
    row.locator("a").click()
    assert page.locator("#phone").inner_text() == "+15559876543"
    assert page.locator("#email").inner_text() == "jane.doe@example.org"
    page.select_option("select[name=status]", "contacted")
    page.fill("textarea[name=notes]", "Left a voicemail.")
    page.get_by_role("button", name="Save", exact=True).click()  # not "Saved replies"
    assert "Intake request updated." in page.locator(".notice").inner_text()
    page.goto("/intake?status=contacted")
    assert page.locator("#intake-list td.status").all_inner_texts() == ["contacted"]
    with page.expect_download() as info:
        page.click("#export-csv")
    rows = list(
        csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read()))
    )
    assert len(rows) == 1
    assert rows[0]["status"] == "contacted" and rows[0]["notes"] == "Left a voicemail."
    assert rows[0]["phone_e164"] == "+15559876543"
    assert rows[0]["condition"].startswith("'=HYPERLINK")  # no formula in a spreadsheet


def test_a_new_handoff_appears_without_a_reload(page, console):
    sign_in(page, console.url, next_path="/handoffs")
    rows = page.locator("#handoff-rows tr")
    assert rows.first.get_attribute("class") == "urgent"  # crisis first
    before = rows.count()
    with session_scope(console.engine) as session:
        open_handoff(
            session,
            conversation_id="rest-safety",
            channel="rest",
            reason="logistics",
            summary="how much does it cost",
        )
    expect(rows).to_have_count(before + 1, timeout=15000)  # the page polls
    assert "how much does it cost" in page.locator("#handoff-rows").inner_text()
    assert rows.first.get_attribute("class") == "urgent"
    assert page.locator("#handoff-badge").inner_text() == str(before + 1)


def test_hostile_text_renders_as_text(page, console):
    def no_script_ran() -> None:
        assert page.evaluate("typeof window.__xss") == "undefined"

    sign_in(page, console.url, next_path="/conversations/view?id=rest-hostile")
    texts = page.locator("li.msg.user .text").all_inner_texts()
    assert texts == [XSS_SCRIPT, XSS_IMG]
    no_script_ran()
    page.goto("/handoffs")
    page.wait_for_timeout(1500)  # the script has re-rendered the queue from JSON
    assert XSS_IMG in page.locator("#handoff-rows").inner_text()
    no_script_ran()
    for path in ("/intake", "/intake/view?id=1", "/conversations?q=script"):
        page.goto(path)
        assert "<script>window.__xss = 1</script>" in page.locator("main").inner_text()
        no_script_ran()
    assert page.dialogs == []
