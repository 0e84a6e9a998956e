"""Saved replies: kept by admins, inserted by staff into a reply and edited first.

Storage on real SQLite and PostgreSQL; the admin page over real HTTP (validation,
audit entries); a staff session attacking the admin endpoints and posts without
or with a forged CSRF token; in headless Chromium, a staff member inserting a
saved reply from the keyboard, editing it and sending it to a stand-in for
Rasa's HTTP API (`tests.support.rasa_stub`), which records what reached the
patient; axe on the new pages.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import expect

from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry, SavedReply
from bot.db.queries import saved_replies as queries
from tests.support.console import ADMIN, STAFF, add_staff, http_sign_in, run_console
from tests.support.console import sign_in as browser_sign_in
from tests.support.databases import BACKENDS, fresh_database
from tests.support.paths import ROOT
from tests.support.rasa_stub import RasaStub
from tests.support.seed import XSS_IMG, XSS_SCRIPT, seed_clinic

AUDIT = AuditEntry.__table__
REPLIES = SavedReply.__table__
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BOOKING = "To book a first visit, call us at 555-0100 on weekdays, 9am to 5pm."


# -- Storage, on both databases -------------------------------------------------


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path):
    with fresh_database(request, tmp_path, request.param) as url:
        upgrade(url)
        yield get_engine(url)


def test_saved_replies_are_stored_checked_changed_and_deleted(engine):
    with session_scope(engine) as session:
        first = queries.save(session, None, "  Booking  a visit ", BOOKING, "a@x.org")
        queries.save(session, None, "Apology", "Sorry for the wait.", "a@x.org")
    assert first.title == "Booking a visit" and first.created_by == "a@x.org"
    with engine.begin() as connection:
        choices = queries.reply_choices(connection)
    assert [c["title"] for c in choices] == ["Apology", "Booking a visit"]
    refusals = [
        (None, "booking A VISIT", "x", "Another saved reply has this title."),
        (None, "", "x", "Give the reply a title."),
        (None, "t" * 81, "x", "The title is at most 80 characters."),
        (None, "New", "   ", "Write the reply's text."),
        (None, "New", "x" * 1601, "The text is at most 1600 characters"),
        (None, "New", "a\x00b", "That was not accepted"),
        (first.id, "Apology", "x", "Another saved reply has this title."),
    ]
    for reply_id, title, body, message in refusals:
        with pytest.raises(queries.SavedReplyError, match=re.escape(message)):
            with session_scope(engine) as session:
                queries.save(session, reply_id, title, body, "a@x.org")
    with session_scope(engine) as session:
        queries.save(session, first.id, "Booking", BOOKING + " Thanks!", "b@x.org")
        with pytest.raises(LookupError):
            queries.save(session, 999999, "Other", "x", "b@x.org")
    with session_scope(engine) as session:
        changed = queries.reply(session, first.id)
        assert (changed.title, changed.created_by) == ("Booking", "a@x.org")
        assert changed.body.endswith("Thanks!")
        queries.delete(session, first.id)
        with pytest.raises(LookupError):
            queries.delete(session, first.id)
    with engine.begin() as connection:
        assert [c["title"] for c in queries.reply_choices(connection)] == ["Apology"]


# -- The console over HTTP ----------------------------------------------------------


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A seeded console whose Rasa is the recording stub."""
    tmp = tmp_path_factory.mktemp("saved_replies")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)
    ids = seed_clinic(get_engine(url))
    stub = RasaStub()
    try:
        with run_console(
            url, tmp / "console.log", {"RASA_PORT": str(stub.port)}
        ) as base:
            add_staff(url)
            yield SimpleNamespace(
                url=base, engine=get_engine(url), ids=ids, stub=stub, log=tmp
            )
    finally:
        stub.close()
        dispose_engines()


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url + "/")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def replies(desk) -> list:
    with desk.engine.connect() as connection:
        return [
            tuple(r)
            for r in connection.execute(
                sa.select(REPLIES.c.id, REPLIES.c.title, REPLIES.c.body).order_by(
                    REPLIES.c.id
                )
            )
        ]


def audit_actions(desk) -> list:
    with desk.engine.connect() as connection:
        return [
            tuple(r)
            for r in connection.execute(
                sa.select(AUDIT.c.user_email, AUDIT.c.action, AUDIT.c.object_id)
                .where(AUDIT.c.object_type == "saved reply")
                .order_by(AUDIT.c.id)
            )
        ]


def add(session, desk, title: str, body: str, **extra) -> requests.Response:
    data = {"csrf_token": csrf(session, desk.url), "title": title, "body": body}
    return session.post(desk.url + "/admin/replies", data={**data, **extra})


def test_admins_add_change_and_delete_saved_replies_audited(desk):
    admin = http_sign_in(desk.url, ADMIN)
    page = add(admin, desk, "Opening hours", "We are open 9 to 5.")
    assert page.status_code == 200 and "Saved reply saved" in page.text
    assert 'href="/admin/replies" class="current">Saved replies</a>' in page.text
    (reply_id, _, _) = [r for r in replies(desk) if r[1] == "Opening hours"][0]
    page = add(admin, desk, "Opening hours", "Open 9 to 6.", id=str(reply_id))
    assert "Saved reply saved" in page.text
    assert (reply_id, "Opening hours", "Open 9 to 6.") in replies(desk)
    # Refused with a clear message, what was typed kept.
    page = add(admin, desk, "opening HOURS", "Typed with care.")
    assert page.status_code == 400
    assert "Another saved reply has this title." in page.text
    assert "Typed with care.</textarea>" in page.text
    page = add(admin, desk, "Too long", "x" * 1700)
    assert page.status_code == 400 and "at most 1600 characters" in page.text
    page = admin.post(
        desk.url + "/admin/replies/delete",
        data={"csrf_token": csrf(admin, desk.url), "id": str(reply_id)},
    )
    assert "Saved reply deleted." in page.text
    assert all(r[0] != reply_id for r in replies(desk))
    assert audit_actions(desk)[-3:] == [
        (ADMIN[0], "saved_reply.create", str(reply_id)),
        (ADMIN[0], "saved_reply.update", str(reply_id)),
        (ADMIN[0], "saved_reply.delete", str(reply_id)),
    ]
    missing = admin.post(
        desk.url + "/admin/replies/delete",
        data={"csrf_token": csrf(admin, desk.url), "id": str(reply_id)},
    )
    assert "Not found" in missing.text


def test_staff_cannot_keep_saved_replies(desk):
    admin = http_sign_in(desk.url, ADMIN)
    add(admin, desk, "Kept by admins", "Only admins change this.")
    before, logged = replies(desk), audit_actions(desk)
    (reply_id, _, _) = [r for r in before if r[1] == "Kept by admins"][0]
    staff = http_sign_in(desk.url, STAFF)
    assert staff.get(desk.url + "/admin/replies").status_code == 403
    token = csrf(staff, desk.url)
    attacks = [
        ("/admin/replies", {"title": "Staff's own", "body": "x"}),
        ("/admin/replies", {"id": str(reply_id), "title": "Hijacked", "body": "x"}),
        ("/admin/replies/delete", {"id": str(reply_id)}),
    ]
    for path, data in attacks:
        response = staff.post(desk.url + path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
        assert "Admins only." in response.text
    assert "Saved replies</a>" not in staff.get(desk.url + "/").text
    # Even an admin's post needs the session's token.
    for token in (None, "forged-token"):
        data = {"title": "No token", "body": "x"}
        if token:
            data["csrf_token"] = token
        response = admin.post(desk.url + "/admin/replies", data=data)
        assert response.status_code == 403
        response = admin.post(
            desk.url + "/admin/replies/delete",
            data={"id": str(reply_id), **({"csrf_token": token} if token else {})},
        )
        assert response.status_code == 403
    assert replies(desk) == before and audit_actions(desk) == logged


def test_staff_get_the_saved_replies_on_the_reply_form_as_text(desk):
    admin = http_sign_in(desk.url, ADMIN)
    add(admin, desk, f"Hostile {XSS_IMG}", XSS_SCRIPT)
    staff = http_sign_in(desk.url, STAFF)
    html = staff.get(desk.url + "/conversations/view?id=rest-human").text
    form = re.search(
        r'<form method="post" action="/handoffs/reply".*?</form>', html, re.S
    )
    assert form and 'class="saved-reply-choice"' in form.group(0)
    assert "Hostile &lt;img src=x" in form.group(0)
    assert "<img src=x" not in html and "<script>window" not in html
    assert 'data-body="&lt;script&gt;window.__xss = 1&lt;/script&gt;hello"' in html
    # No open handoff, no reply form, no choice.
    quiet = staff.get(desk.url + "/conversations/view?id=rest-safety").text
    assert "saved-reply-choice" not in quiet


# -- In a browser -----------------------------------------------------------------


@pytest.fixture
def page(browser, desk):
    context = browser.new_context(base_url=desk.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def axe_serious(page) -> list:
    page.evaluate(AXE.read_text())  # as the test's script: the CSP allows none
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}})"""
    )
    assert result["passes"], "axe ran no checks"
    return [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.browser
def test_staff_insert_a_saved_reply_from_the_keyboard_edit_it_and_send(page, desk):
    admin = http_sign_in(desk.url, ADMIN)
    add(admin, desk, "Booking", BOOKING)
    browser_sign_in(page, desk.url, STAFF, "/conversations/view?id=rest-human")
    area = page.locator("#reply-form textarea[name=text]")
    expect(area).to_have_value("")
    # Keyboard only: into the reply, to the choice, pick, to Insert, Enter.
    area.focus()
    page.keyboard.type("Hello Jane. ")
    page.keyboard.press("Shift+Tab")  # back from the reply to Insert...
    page.keyboard.press("Shift+Tab")  # ...and to the choice
    choice = page.locator("#reply-form select.saved-reply-choice")
    expect(choice).to_be_focused()
    page.keyboard.type("Booking")  # a closed select picks by typing
    expect(choice.locator("option:checked")).to_have_text("Booking")
    page.keyboard.press("Tab")
    expect(page.locator("#reply-form .saved-reply-insert")).to_be_focused()
    page.keyboard.press("Enter")
    expect(area).to_have_value("Hello Jane. " + BOOKING)
    expect(area).to_be_focused()  # the cursor is after the inserted text
    expect(page.locator("#reply-form .saved-reply-status")).to_contain_text(
        "edit it before sending"
    )
    page.keyboard.press("Backspace")  # the trailing "." goes: edited before sending
    page.keyboard.type(", or reply here.")
    edited = "Hello Jane. " + BOOKING[:-1] + ", or reply here."
    expect(area).to_have_value(edited)
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator(".notice")).to_contain_text("Reply sent to the patient.")
    sent = [
        e["text"]
        for r in desk.stub.requests
        if r["conversation"] == "rest-human"
        for e in r["events"]
        if e.get("event") == "bot"
    ]
    assert sent == [edited]


@pytest.mark.browser
def test_insert_without_a_choice_or_past_the_limit_changes_nothing(page, desk):
    admin = http_sign_in(desk.url, ADMIN)
    add(admin, desk, "Long one", "y" * 1500)
    browser_sign_in(page, desk.url, STAFF, "/conversations/view?id=rest-crisis")
    area = page.locator("#reply-form textarea[name=text]")
    status = page.locator("#reply-form .saved-reply-status")
    page.locator("#reply-form .saved-reply-insert").click()
    expect(status).to_have_text("Choose a saved reply first.")
    expect(area).to_have_value("")
    area.fill("z" * 200)
    page.locator("#reply-form select.saved-reply-choice").select_option(
        label="Long one"
    )
    page.locator("#reply-form .saved-reply-insert").click()
    expect(status).to_contain_text("longer than 1600 characters")
    expect(area).to_have_value("z" * 200)


@pytest.mark.browser
@pytest.mark.parametrize(
    "account, path",
    [
        (STAFF, "/conversations/view?id=rest-human"),
        (STAFF, "/answers"),
        (STAFF, "/answers/view?key=is_it_safe"),
        (ADMIN, "/admin/replies"),
    ],
)
def test_axe_finds_no_serious_or_critical_violations(page, desk, account, path):
    admin = http_sign_in(desk.url, ADMIN)
    add(admin, desk, "Axe check", "A reply for the accessibility check.")
    browser_sign_in(page, desk.url, account, path)
    assert page.url.endswith(path)
    assert axe_serious(page) == []
