"""The website chat widget in a real browser, against the real product.

Headless Debian Chromium (Playwright) opens the demo page served by the widget
server of the session's `product` (tests/conftest.py), which talks to a real Rasa
server (socket.io channel with session persistence) and action server. Each test
uses a fresh browser context (its own localStorage: a new patient); staff sign in
to the same product's console.
"""

from __future__ import annotations

import re
import secrets

import pytest
import yaml

from tests.support.console import sign_in
from tests.support.paths import ROOT

pytestmark = [pytest.mark.model, pytest.mark.server, pytest.mark.browser]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RESPONSES = yaml.safe_load((ROOT / "data" / "responses" / "faq.yml").read_text())[
    "responses"
]
TIMEOUT_MS = 30_000


def answer_part(key: str, index: int = 0) -> str:
    """One paragraph of a curated answer (the widget shows one bubble each)."""
    return RESPONSES[f"utter_faq/{key}"][0]["text"].split("\n\n")[index]


@pytest.fixture
def page(browser, product):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(product.widget_url + "/")
    yield page
    context.close()


def expect():
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect


def open_chat(page):
    page.get_by_role("button", name="Questions? Chat with us").click()
    log = page.get_by_role("log", name="Conversation")
    # A new conversation opens with the notice and the greeting's quick replies.
    expect()(log.get_by_role("button", name="Is it safe?")).to_be_visible()
    return log


def ask(page, text: str) -> None:
    box = page.get_by_label("Type your question")
    box.fill(text)
    box.press("Enter")


def bot_bubbles(page):
    return page.locator(".msp-chat__msg--bot .msp-chat__bubble")


def test_demo_page_answers_is_it_safe_with_the_curated_answer(page):
    log = open_chat(page)
    expect()(log).to_contain_text("can't give medical advice")  # the notice
    ask(page, "is it safe?")
    expect()(log).to_contain_text(answer_part("is_it_safe", 0))
    expect()(log).to_contain_text(answer_part("is_it_safe", 1))
    expect()(page.locator(".msp-chat__msg--user").last).to_have_text("You:is it safe?")


def test_quick_reply_sends_its_question_and_shows_its_title(page):
    log = open_chat(page)
    log.get_by_role("button", name="How fast does it work?").click()
    expect()(log).to_contain_text(answer_part("onset_speed", 0))
    expect()(page.locator(".msp-chat__msg--user").last).to_contain_text(
        "How fast does it work?"
    )
    # Answered quick replies go away: no stale buttons.
    expect()(log.get_by_role("button", name="Is it safe?")).to_have_count(0)


def test_reload_keeps_the_session_and_shows_the_history(page):
    log = open_chat(page)
    ask(page, "is it safe?")
    expect()(log).to_contain_text(answer_part("is_it_safe", 2))  # the last part
    session = page.evaluate("localStorage.getItem('msp-chat-session')")
    assert re.fullmatch(r"[0-9a-f]{32}", session)
    before = bot_bubbles(page).count()  # notice, greeting, three answer parts
    assert before == 5

    page.reload()
    log = page.get_by_role("log", name="Conversation")
    expect()(log).to_contain_text(answer_part("is_it_safe", 0))  # panel stays open
    expect()(log).to_contain_text("is it safe?")
    expect()(bot_bubbles(page)).to_have_count(before)
    assert page.evaluate("localStorage.getItem('msp-chat-session')") == session
    ask(page, "what are the side effects?")  # and the conversation goes on
    expect()(log).to_contain_text(answer_part("side_effects", 0))


def test_dropped_connection_shows_reconnecting_and_resumes(page):
    sockets = []

    def relay(ws):
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), relay)
    page.reload()  # route the widget's socket through the relay
    log = open_chat(page)
    session = page.evaluate("localStorage.getItem('msp-chat-session')")
    sockets[-1].close()
    status = page.get_by_role("status")
    expect()(status).to_contain_text("Reconnecting")
    expect()(status).to_have_text("")  # socket.io reconnects by itself
    ask(page, "is it safe?")
    expect()(log).to_contain_text(answer_part("is_it_safe", 0))
    assert page.evaluate("localStorage.getItem('msp-chat-session')") == session


def tab_to(page, locator, presses: int = 10) -> None:
    """Presses Tab until `locator` has the focus (at most `presses` times)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if locator.evaluate("node => node === document.activeElement"):
            return
    expect()(locator).to_be_focused()


def test_keyboard_only_conversation(page):
    launcher = page.get_by_role("button", name="Questions? Chat with us")
    tab_to(page, launcher)  # after the demo page's two links
    page.keyboard.press("Enter")
    expect()(launcher).to_have_attribute("aria-expanded", "true")
    box = page.get_by_label("Type your question")
    expect()(box).to_be_focused()
    page.keyboard.type("how fast does it work?")
    page.keyboard.press("Enter")
    log = page.get_by_role("log", name="Conversation")
    expect()(log).to_contain_text(answer_part("onset_speed", 0))
    expect()(box).to_be_focused()
    page.keyboard.press("Escape")
    expect()(page.get_by_role("log", name="Conversation")).to_be_hidden()
    expect()(launcher).to_be_focused()


def test_a_message_typed_before_the_chat_connects_is_kept_and_sent(page):
    held: list = []
    state = {"holding": True, "page_side": None}

    def relay(ws):
        # The server's packets (the handshake, the session) wait here while
        # holding, as on a slow connection.
        server = ws.connect_to_server()
        state["page_side"] = ws

        def to_page(message):
            if state["holding"]:
                held.append(message)
            else:
                ws.send(message)

        server.on_message(to_page)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), relay)
    page.reload()
    page.get_by_role("button", name="Questions? Chat with us").click()
    box = page.get_by_label("Type your question")
    box.fill("how fast does it work?")
    box.press("Enter")
    expect()(page.get_by_role("status")).to_contain_text("will be sent")
    state["holding"] = False
    for message in held:
        state["page_side"].send(message)
    log = page.get_by_role("log", name="Conversation")
    expect()(log).to_contain_text(answer_part("onset_speed", 0))
    expect()(log).to_contain_text("how fast does it work?")


@pytest.mark.parametrize(
    "viewport", [(1280, 800), (360, 640)], ids=["desktop", "phone"]
)
def test_axe_finds_no_serious_or_critical_violations(page, viewport):
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    log = open_chat(page)
    # Several messages, so the log scrolls (axe: scrollable-region-focusable).
    for question, key in [
        ("is it safe?", "is_it_safe"),
        ("how fast does it work?", "onset_speed"),
        ("what are the side effects?", "side_effects"),
    ]:
        ask(page, question)
        expect()(log).to_contain_text(answer_part(key, 0))
    assert page.evaluate(
        "(() => { const l = document.querySelector('.msp-chat__log');"
        " return l.scrollHeight > l.clientHeight; })()"
    ), "the log should scroll for this check to mean something"
    # Answers with their source and feedback buttons, one voted, its reason open.
    feedback = log.get_by_role("group", name="Was this answer helpful?")
    expect()(feedback).to_have_count(3)
    feedback.last.get_by_role("button", name="Not helpful").click()
    expect()(
        log.get_by_role("textbox", name="What was missing or unclear?")
    ).to_be_visible()
    checked = axe_check(page)
    assert "scrollable-region-focusable" in checked
    assert "aria-allowed-attr" in checked and "button-name" in checked


def axe_check(page) -> set:
    """Runs axe-core on the page: fails on any serious or critical violation.

    Returns:
        The ids of the rules that passed.
    """
    page.evaluate(AXE.read_text())  # as the test's script: the page's CSP allows none
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
    )
    serious = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    assert result["passes"], "axe ran no checks"
    return {v["id"] for v in result["passes"]}


def test_the_conversation_log_scrolls_from_the_keyboard(page):
    log = open_chat(page)
    for question in (
        "is it safe?",
        "how fast does it work?",
        "what are the side effects?",
    ):
        ask(page, question)
        expect()(page.locator(".msp-chat__typing")).to_be_hidden()
    expect()(log).to_have_attribute("tabindex", "0")
    expect()(log).to_have_accessible_name("Conversation")
    page.get_by_label("Type your question").focus()
    # Shift+Tab from the input reaches the log, through the answers' source links
    # and feedback buttons (three each).
    for _ in range(20):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.getAttribute('role')") == "log":
            break
    expect()(log).to_be_focused()
    bottom = page.evaluate("document.querySelector('.msp-chat__log').scrollTop")
    assert bottom > 0
    page.keyboard.press("Home")  # scrolls the focused log (smoothly: wait for it)
    for _ in range(50):  # (wait_for_function would need 'unsafe-eval' in the CSP)
        if page.evaluate("document.querySelector('.msp-chat__log').scrollTop") == 0:
            break
        page.wait_for_timeout(100)
    assert page.evaluate("document.querySelector('.msp-chat__log').scrollTop") == 0


def test_markup_in_a_message_is_shown_as_text(page):
    log = open_chat(page)
    hostile = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    ask(page, hostile)
    expect()(page.locator(".msp-chat__msg--user").last).to_have_text("You:" + hostile)
    expect()(bot_bubbles(page)).not_to_have_count(0)
    assert log.locator("img, script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_too_long_message_gets_a_friendly_note_and_is_not_sent(page):
    open_chat(page)
    box = page.get_by_label("Type your question")
    box.fill("a" * 1001)
    expect()(page.locator("#msp-chat-note")).to_contain_text("1 characters too long")
    expect()(page.get_by_role("button", name="Send")).to_be_disabled()
    box.press("Enter")
    expect()(page.locator(".msp-chat__msg--user")).to_have_count(0)
    box.fill("a" * 1000)
    expect()(page.get_by_role("button", name="Send")).to_be_enabled()


def test_mobile_layout_fills_a_360px_screen(browser, product):
    context = browser.new_context(viewport={"width": 360, "height": 640})
    try:
        page = context.new_page()
        page.goto(product.widget_url + "/")
        open_chat(page)
        box = page.locator("#msp-chat-panel").bounding_box()
        assert box["x"] == 0 and box["width"] == 360
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 360  # no sideways scrolling
        send = page.get_by_role("button", name="Send").bounding_box()
        assert send["x"] + send["width"] <= 360
    finally:
        context.close()


def test_staff_reply_appears_live_with_a_safe_link(page, product):
    from bot.db.engine import get_engine, session_scope
    from bot.db.migrate import upgrade
    from bot.db.repository import open_handoff
    from bot.handoff import HandoffService

    log = open_chat(page)
    session = page.evaluate("localStorage.getItem('msp-chat-session')")
    upgrade(product.database_url)  # the launcher's job; run_servers skips it
    engine = get_engine(product.database_url)
    with session_scope(engine) as db:
        handoff_id = open_handoff(
            db,
            conversation_id=session,
            channel="socketio",
            reason="requested",
            summary="asked for a person",
        ).id
    service = HandoffService(product.base_url, product.token, engine=engine)
    service.reply(
        handoff_id, "Hi, this is Sam from the clinic: https://example.org/visit.", "Sam"
    )
    expect()(log).to_contain_text("Hi, this is Sam from the clinic")
    expect()(log.locator(".msp-chat__staff")).to_have_text("Sam, clinic staff:")
    link = log.get_by_role("link", name="https://example.org/visit")
    expect()(link).to_have_attribute("target", "_blank")
    expect()(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    page.reload()  # the history keeps who answered
    log = page.get_by_role("log", name="Conversation")
    expect()(log.locator(".msp-chat__staff")).to_have_text("Sam, clinic staff:")


def test_widget_script_is_one_self_contained_file(product):
    import urllib.request

    with urllib.request.urlopen(product.widget_url + "/widget.js") as response:
        script = response.read().decode()
        assert response.headers["Content-Type"].startswith("application/javascript")
    assert "msp-chat" in script and "socket.io" in script.lower()
    with urllib.request.urlopen(product.widget_url + "/") as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert not re.search(r"""(src|href)=["']https?://(?!127\.0\.0\.1)""", page)


def test_staff_reply_from_the_console_reaches_the_widget_live(browser, product, page):
    """The whole product: a patient asks for a person in the widget, staff answer
    from the console, the reply appears in the patient's open chat, and the bot
    takes over again after staff hand the conversation back."""
    log = open_chat(page)
    session = page.evaluate("localStorage.getItem('msp-chat-session')")
    ask(page, "can I talk to a person?")
    expect()(log).to_contain_text("staff")

    staff = browser.new_context()
    try:
        console = staff.new_page()
        console.set_default_timeout(TIMEOUT_MS)
        sign_in(console, product.console_url, next_path="/handoffs")
        row = console.locator("#handoff-rows tr", has_text=session)
        expect()(row).to_have_count(1)
        row.locator("button", has_text="Claim").click()
        console.wait_for_url(re.compile(r"/conversations/view"))
        reply = "Hello, this is Dana from the clinic. How can I help?"
        console.fill("#reply-form textarea[name=text]", reply)
        console.click("#reply-form button[type=submit]")
        expect()(console.locator(".notice")).to_have_text("Reply sent to the patient.")

        expect()(log).to_contain_text(reply)  # live, no reload
        expect()(log.locator(".msp-chat__staff")).to_contain_text("clinic staff:")
        console.click("text=Hand back to the bot")
        expect()(console.locator(".notice")).to_contain_text("back with the bot")
    finally:
        staff.close()
    ask(page, "how long does the relief last?")
    expect()(log).to_contain_text(answer_part("relief_duration", 0))


def test_crisis_message_gets_emergency_guidance_not_an_faq(page, product):
    from bot.db.engine import get_engine, session_scope
    from bot.db.repository import latest_active_handoff

    log = open_chat(page)
    ask(page, "i want to end my life tonight")
    expect()(log).to_contain_text("call or text 988")
    expect()(log).to_contain_text("call 911 now")
    expect()(log).to_contain_text("flagged this conversation for the clinic's staff")
    session = page.evaluate("localStorage.getItem('msp-chat-session')")
    with session_scope(get_engine(product.database_url)) as db:
        handoff = latest_active_handoff(db, session)
        assert handoff is not None and handoff.urgent and handoff.reason == "crisis"


def new_handoff(product, conversation_id: str) -> int:
    from bot.db.engine import get_engine, session_scope
    from bot.db.migrate import upgrade
    from bot.db.repository import open_handoff

    upgrade(product.database_url)  # the launcher's job; run_servers skips it
    with session_scope(get_engine(product.database_url)) as db:
        return open_handoff(
            db,
            conversation_id=conversation_id,
            channel="socketio",
            reason="requested",
            summary="asked for a person",
        ).id


def staff(product):
    from bot.db.engine import get_engine
    from bot.handoff import HandoffService

    engine = get_engine(product.database_url)
    return HandoffService(product.base_url, product.token, engine=engine)


def session_of(page) -> str:
    return page.evaluate("localStorage.getItem('msp-chat-session')")


def test_start_over_leaves_the_previous_patients_conversation(page, product):
    """Two sessions on one socket: after "Start over", the next person at the
    screen must not receive the previous patient's staff reply."""
    log = open_chat(page)
    ask(page, "is it safe?")
    expect()(log).to_contain_text(answer_part("is_it_safe", 0))
    first = session_of(page)
    page.get_by_role("button", name="Start over").click()
    expect()(log.get_by_role("button", name="Is it safe?")).to_be_visible()
    expect()(log).not_to_contain_text(answer_part("is_it_safe", 0))
    second = session_of(page)
    assert second and second != first

    service = staff(product)
    service.reply(new_handoff(product, first), "For the first patient only.", "Sam")
    service.reply(new_handoff(product, second), "For the person here now.", "Sam")
    # Both went down the same socket in this order: the second one arriving means
    # the first one would have arrived before it.
    expect()(log).to_contain_text("For the person here now.")
    expect()(log).not_to_contain_text("For the first patient only.")
    page.reload()
    expect()(page.get_by_role("log", name="Conversation")).to_contain_text(
        "For the person here now."
    )
    expect()(page.get_by_role("log", name="Conversation")).not_to_contain_text(
        "For the first patient only."
    )


def age_conversation(product, conversation_id: str, seconds: int) -> None:
    """Makes every event of a conversation `seconds` older (its idle time)."""
    import sqlite3

    with sqlite3.connect(product.db_path) as db:
        db.execute(
            "update events set timestamp = timestamp - ?, data = json_set(data, "
            "'$.timestamp', json_extract(data, '$.timestamp') - ?) "
            "where sender_id = ?",
            (seconds, seconds, conversation_id),
        )


def test_an_idle_session_is_not_resumed_and_its_history_not_replayed(page, product):
    log = open_chat(page)
    ask(page, "is it safe?")
    expect()(log).to_contain_text(answer_part("is_it_safe", 0))
    old = session_of(page)
    age_conversation(product, old, 2 * 3600)  # WIDGET_SESSION_IDLE_MINUTES is 60

    page.reload()  # e.g. the next person at a shared computer
    log = page.get_by_role("log", name="Conversation")
    expect()(log.get_by_role("button", name="Is it safe?")).to_be_visible()  # new
    expect()(log).not_to_contain_text(answer_part("is_it_safe", 0))
    expect()(log).not_to_contain_text("is it safe?")
    assert session_of(page) not in (None, old)


def test_a_message_to_an_idle_session_starts_over(page, product):
    log = open_chat(page)
    ask(page, "is it safe?")
    expect()(log).to_contain_text(answer_part("is_it_safe", 0))
    old = session_of(page)
    age_conversation(product, old, 2 * 3600)  # left open, unattended

    ask(page, "how fast does it work?")
    expect()(page.get_by_role("status")).to_contain_text("new one has started")
    expect()(log).not_to_contain_text(answer_part("is_it_safe", 0))
    expect()(log.get_by_role("button", name="Is it safe?")).to_be_visible()
    assert session_of(page) not in (None, old)
    ask(page, "how fast does it work?")  # the patient sends it again
    expect()(log).to_contain_text(answer_part("onset_speed", 0))


def test_intake_read_back_is_not_replayed_after_a_reload(page):
    log = open_chat(page)
    for text, prompt in [
        ("please have the clinic contact me", "full name"),
        ("Ana Lopez", "phone"),
        ("617 555 0178", "email"),
        ("ana.lopez@example.org", "pain or condition"),
        ("burning pain in both feet", "best time"),
        ("weekday mornings", "agree"),
        ("yes", "Shall I send it"),
    ]:
        ask(page, text)
        expect()(bot_bubbles(page).last).to_contain_text(prompt)
    expect()(log).to_contain_text("ana.lopez@example.org")  # read back, live, once

    page.reload()
    log = page.get_by_role("log", name="Conversation")
    expect()(log).to_contain_text("Hidden for your privacy")
    for secret in ("Ana Lopez", "555", "ana.lopez@example.org", "burning pain"):
        expect()(log).not_to_contain_text(secret)
    ask(page, "yes")  # the conversation goes on: the request is sent
    expect()(bot_bubbles(page).last).to_contain_text("request is with the clinic")


# --- issue 13: feedback, the source, the transcript, the statement ---------------


def stored_feedback(product, conversation_id: str) -> list:
    import sqlite3

    with sqlite3.connect(product.db_path) as db:
        return db.execute(
            "select answer_id, answer_key, vote, reason from answer_feedback "
            "where conversation_id = ?",
            (conversation_id,),
        ).fetchall()


def events_mentioning(product, conversation_id: str, text: str) -> int:
    import sqlite3

    with sqlite3.connect(product.db_path) as db:
        return db.execute(
            "select count(*) from events where sender_id = ? and data like ?",
            (conversation_id, f"%{text}%"),
        ).fetchone()[0]


def test_a_curated_answer_shows_its_source_and_takes_a_vote_by_keyboard(page, product):
    log = open_chat(page)
    ask(page, "how fast does ketamine work")
    expect()(log).to_contain_text(answer_part("onset_speed", 0))
    answer = page.locator(".msp-chat__msg--bot").last
    expect()(answer.locator(".msp-chat__source")).to_have_text(
        "From the clinic's article: Benefits, Rapid Onset of Action"
        " (opens in a new tab)"
    )
    source = answer.get_by_role("link", name="Benefits, Rapid Onset of Action")
    expect()(source).to_have_attribute(
        "href",
        product.widget_url
        + "/article#benefits-of-ketamine-therapy-over-traditional-treatments",
    )
    # Only curated answers get the buttons: not the notice, not the greeting.
    group = log.get_by_role("group", name="Was this answer helpful?")
    expect()(group).to_have_count(1)
    helpful = group.get_by_role("button", name="Helpful", exact=True)
    not_helpful = group.get_by_role("button", name="Not helpful", exact=True)
    expect()(helpful).to_have_attribute("aria-pressed", "false")
    box = page.get_by_label("Type your question")
    box.focus()
    page.keyboard.press("Shift+Tab")  # the last focusable thing of the log
    expect()(not_helpful).to_be_focused()
    page.keyboard.press("Enter")
    expect()(not_helpful).to_have_attribute("aria-pressed", "true")
    expect()(answer.locator(".msp-chat__feedback-status")).to_have_text(
        "Thanks for your feedback."
    )
    reason_box = log.get_by_label("What was missing or unclear? (optional)")
    expect()(reason_box).to_have_attribute("maxlength", "500")
    page.keyboard.press("Tab")
    expect()(reason_box).to_be_focused()
    reason = "It does not say how many sessions I would need."
    page.keyboard.type(reason)
    page.keyboard.press("Tab")
    expect()(log.get_by_role("button", name="Send reason")).to_be_focused()
    page.keyboard.press("Enter")
    expect()(reason_box).to_be_hidden()
    expect()(not_helpful).to_be_focused()  # the form went: focus stays near
    session = session_of(page)
    ((answer_id, key, vote, stored_reason),) = stored_feedback(product, session)
    assert (key, vote, stored_reason) == ("onset_speed", "not_helpful", reason)
    # Never a patient message: not in the conversation's events, not in the log.
    assert events_mentioning(product, session, "sessions I would need") == 0
    expect()(page.locator(".msp-chat__msg--user")).to_have_count(1)

    page.keyboard.press("Shift+Tab")  # "Helpful", just before
    expect()(helpful).to_be_focused()
    page.keyboard.press("Space")
    expect()(helpful).to_have_attribute("aria-pressed", "true")
    expect()(not_helpful).to_have_attribute("aria-pressed", "false")
    for _ in range(50):  # the ack comes after the commit; poll a little anyway
        rows = stored_feedback(product, session)
        if rows and rows[0][2] == "helpful":
            break
        page.wait_for_timeout(100)
    assert rows == [(answer_id, "onset_speed", "helpful", None)]

    page.reload()  # the history shows the answer, its source and the vote
    log = page.get_by_role("log", name="Conversation")
    group = log.get_by_role("group", name="Was this answer helpful?")
    expect()(group.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect()(log.locator(".msp-chat__source")).to_have_count(1)


def test_download_gives_the_conversation_as_plain_text(page):
    log = open_chat(page)
    ask(page, "how fast does ketamine work")
    expect()(log).to_contain_text(answer_part("onset_speed", 0))
    expect()(page.locator(".msp-chat__typing")).to_be_hidden()
    download_button = page.get_by_role("button", name="Download this conversation")
    with page.expect_download() as info:
        download_button.click()
    download = info.value
    assert re.fullmatch(
        r"ms-pain-chat-\d{4}-\d{2}-\d{2}\.txt", download.suggested_filename
    )
    text = open(download.path(), encoding="utf-8").read()
    assert "You: how fast does ketamine work" in text
    assert f"Assistant: {answer_part('onset_speed', 0)}" in text
    assert "(From the clinic's article: Benefits, Rapid Onset of Action)" in text
    assert "General information only, not medical advice." in text
    assert "Was this answer helpful" not in text  # what was said, not the controls


def test_the_demo_page_links_to_the_article_and_the_accessibility_statement(
    page, product
):
    page.get_by_role("link", name="the clinic's article on ketamine therapy").click()
    expect()(page).to_have_url(product.widget_url + "/article")
    expect()(page.get_by_role("heading", level=1)).to_contain_text(
        "The Power of Ketamine Therapy"
    )
    expect()(
        page.locator("#benefits-of-ketamine-therapy-over-traditional-treatments")
    ).to_have_text("Benefits of Ketamine Therapy over Traditional Treatments")
    axe_check(page)
    page.get_by_role("link", name="Accessibility statement").click()
    expect()(page).to_have_url(product.widget_url + "/accessibility")
    expect()(page.get_by_role("heading", level=1)).to_have_text(
        "Accessibility statement"
    )
    expect()(page.get_by_role("heading", name="Known limits")).to_be_visible()
    axe_check(page)
    page.get_by_role("link", name="Back to the clinic's page").click()
    expect()(page).to_have_url(product.widget_url + "/")


def test_a_not_helpful_reason_shows_in_the_console_figures_of_its_key(
    browser, product, page
):
    """Issue 13's bar end to end: a patient's "Not helpful" with a reason in the
    widget is in the console's Answers figures for that key, reason included."""
    log = open_chat(page)
    ask(page, "how quickly does ketamine start to work")
    expect()(log).to_contain_text(answer_part("onset_speed", 0))
    group = log.get_by_role("group", name="Was this answer helpful?").last
    group.get_by_role("button", name="Not helpful", exact=True).click()
    reason = f"Nothing on the number of sessions {secrets.token_hex(3)}"
    log.get_by_label("What was missing or unclear? (optional)").fill(reason)
    log.get_by_role("button", name="Send reason").click()
    expect()(log.get_by_label("What was missing or unclear? (optional)")).to_be_hidden()

    staff = browser.new_context()
    try:
        console = staff.new_page()
        console.set_default_timeout(TIMEOUT_MS)
        sign_in(console, product.console_url, next_path="/answers?period=all")
        row = console.locator("#answer-list tr[data-key=onset_speed]")
        expect()(row.locator(".not-helpful")).to_contain_text("with a reason")
        row.get_by_role("link", name="onset_speed").click()
        expect()(console.locator("#reason-list")).to_contain_text(reason)
        link = console.locator("#reason-list tr", has_text=reason).locator("a")
        expect()(link).to_have_attribute(
            "href", re.compile(r"^/conversations/view\?id=")
        )
    finally:
        staff.close()
