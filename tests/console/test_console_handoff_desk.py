"""Issue 10 #12 (who patients see) and #13 (reply and hand-back racing).

A real console on real SQLite and real PostgreSQL, over real HTTP, with a stand-in
for Rasa's HTTP API (`tests.support.rasa_stub`) that records what reaches the
patient's conversation and answers slowly, like a Rasa busy delivering a
message: the window in which a reply and a hand-back sent at the same moment
used to interleave (un-pause, pause, close) and leave the patient with a silent
bot and nobody on the queue.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa

from bot.console import auth
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry, Handoff, HandoffLock, utcnow
from bot.db.repository import claim_handoff, open_handoff
from bot.handoff import desk as handoff_desk
from tests.support.console import ADMIN, STAFF, add_staff, http_sign_in, run_console
from tests.support.databases import BACKENDS, module_database
from tests.support.rasa_stub import RasaStub
from tests.support.seed import Turn, add_conversation, create_events_table

SAM = ("sam@clinic.example", "sam-password-1234")
AUDIT = AuditEntry.__table__


@pytest.fixture(scope="module", params=BACKENDS)
def desk(request, tmp_path_factory):
    """A console whose Rasa is the recording stub, on SQLite or PostgreSQL."""
    tmp = tmp_path_factory.mktemp(f"desk_{request.param}")
    stub = RasaStub()
    try:
        with module_database(request.param, tmp) as url:
            upgrade(url)
            engine = get_engine(url)
            create_events_table(engine)
            with run_console(
                url, tmp / "console.log", {"RASA_PORT": str(stub.port)}
            ) as base_url:
                # After the start: the first admin comes from the environment.
                add_staff(url)
                with session_scope(engine) as session:
                    auth.create_user(session, SAM[0], SAM[1], "staff", "Sam")
                yield SimpleNamespace(url=base_url, engine=engine, stub=stub)
            dispose_engines()
    finally:
        stub.close()


def new_handoff(desk, conversation_id: str, claimed_by: str | None = None) -> int:
    with session_scope(desk.engine) as session:
        handoff = open_handoff(
            session,
            conversation_id=conversation_id,
            channel="rest",
            reason="requested",
            summary="can I talk to a person",
        )
        if claimed_by:
            claim_handoff(session, handoff.id, claimed_by=claimed_by)
        return handoff.id


def status_of(desk, handoff_id: int) -> Handoff:
    with session_scope(desk.engine) as session:
        return session.get(Handoff, handoff_id)


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url + "/handoffs")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def post(session, desk, path: str, **data) -> str:
    """Posts a handoff form; returns the notice code of the redirect."""
    response = session.post(
        desk.url + path,
        data={"csrf_token": csrf(session, desk.url), **data},
        allow_redirects=False,
        timeout=120,
    )
    assert response.status_code == 303, response.text
    return parse_qs(urlsplit(response.headers["Location"]).query)["notice"][0]


def staff_names(desk, conversation_id: str) -> list:
    return [
        e["metadata"]["staff_name"]
        for e in desk.stub.events_for(conversation_id)
        if e.get("event") == "bot"
    ]


def test_patients_see_the_display_name_never_the_email(desk):
    sam = http_sign_in(desk.url, SAM)
    handoff_id = new_handoff(desk, "rest-name-1")
    notice = post(sam, desk, "/handoffs/reply", handoff_id=handoff_id, text="Hi!")
    assert notice == "replied"
    assert staff_names(desk, "rest-name-1") == ["Sam"]
    sent = str([r for r in desk.stub.requests if r["conversation"] == "rest-name-1"])
    assert SAM[0] not in sent and "sam@" not in sent
    assert status_of(desk, handoff_id).claimed_by == SAM[0]  # the identity

    # A new display name, set on the Account page, is what the next reply shows.
    name = sam.post(
        desk.url + "/account/name",
        data={"csrf_token": csrf(sam, desk.url), "display_name": "  Samantha  R. "},
    )
    assert "Display name saved" in name.text
    post(sam, desk, "/handoffs/reply", handoff_id=handoff_id, text="Still there?")
    assert staff_names(desk, "rest-name-1") == ["Sam", "Samantha R."]

    # An account without a display name is "Clinic staff", never its email.
    admin = http_sign_in(desk.url, ADMIN)
    other = new_handoff(desk, "rest-name-2")
    post(admin, desk, "/handoffs/reply", handoff_id=other, text="Hello")
    assert staff_names(desk, "rest-name-2") == [handoff_desk.FALLBACK_NAME]
    assert ADMIN[0] not in str(desk.stub.requests)
    # The transcript shows staff who answered, by name.
    with desk.engine.connect() as connection:
        actions = {
            a
            for (a,) in connection.execute(
                sa.select(AUDIT.c.action).where(AUDIT.c.object_id == "rest-name-1")
            )
        }
    assert "reply" in actions


def _press(session, desk, token: str, handoff_id: int, what: str, results) -> None:
    """Presses "Hand back to the bot" or "Send reply"; keeps the notice."""
    path = "/handoffs/resume" if what == "resume" else "/handoffs/reply"
    response = session.post(
        desk.url + path,
        data={
            "csrf_token": token,
            "handoff_id": handoff_id,
            "text": "One more thing: call us any time.",
        },
        allow_redirects=False,
        timeout=120,
    )
    location = response.headers["Location"]
    results[what] = parse_qs(urlsplit(location).query)["notice"][0]


@pytest.mark.parametrize("first", ["resume", "reply"])
def test_reply_and_hand_back_at_once_never_leave_a_silent_conversation(desk, first):
    """Both buttons pressed at the same moment (two tabs, two staff members)."""
    admin = http_sign_in(desk.url, ADMIN)
    desk.stub.delay = 0.5  # Rasa takes its time delivering
    try:
        for round_ in range(3):
            conversation = f"rest-race-{first}-{round_}"
            handoff_id = new_handoff(desk, conversation, claimed_by=ADMIN[0])
            results = {}
            token = csrf(admin, desk.url)

            second = "reply" if first == "resume" else "resume"
            threads = [
                threading.Thread(
                    target=_press, args=(admin, desk, token, handoff_id, what, results)
                )
                for what in (first, second)
            ]
            threads[0].start()
            time.sleep(0.15)  # the first is talking to Rasa now
            threads[1].start()
            for thread in threads:
                thread.join(timeout=120)

            handoff = status_of(desk, handoff_id)
            paused = desk.stub.paused(conversation)
            # Never: the bot silenced while no handoff is open for staff.
            assert not (handoff.status == "closed" and paused), (results, round_)
            if first == "resume":  # the reply came too late: nothing was sent
                assert results == {"resume": "resumed", "reply": "error-taken"}
                assert staff_names(desk, conversation) == []
            else:  # the hand-back waited for the reply, then closed
                assert results == {"reply": "replied", "resume": "resumed"}
                assert handoff.status == "closed" and not paused
    finally:
        desk.stub.delay = 0.0


def test_closing_a_handoff_someone_else_claimed_needs_a_takeover(desk):
    nurse = http_sign_in(desk.url, STAFF)
    admin = http_sign_in(desk.url, ADMIN)
    add_conversation(
        desk.engine, "rest-claimed-1", [Turn("talk to a person", "request_human")]
    )
    handoff_id = new_handoff(desk, "rest-claimed-1")
    assert post(nurse, desk, "/handoffs/claim", handoff_id=handoff_id) == "claimed"

    notice = post(admin, desk, "/handoffs/resume", handoff_id=handoff_id)
    assert notice == "error-claimed"
    assert status_of(desk, handoff_id).status == "claimed"
    assert desk.stub.events_for("rest-claimed-1") == []  # nothing reached Rasa
    page = admin.get(desk.url + "/conversations/view?id=rest-claimed-1").text
    assert f"I am taking over from {STAFF[0]}" in page
    assert 'name="takeover"' in page
    mine = nurse.get(desk.url + "/conversations/view?id=rest-claimed-1").text
    assert 'name="takeover"' not in mine  # the holder closes it without a box

    notice = post(admin, desk, "/handoffs/resume", handoff_id=handoff_id, takeover="1")
    assert notice == "resumed"
    assert status_of(desk, handoff_id).status == "closed"
    assert desk.stub.events_for("rest-claimed-1")[0] == {"event": "resume"}
    with desk.engine.connect() as connection:
        actions = [
            (who, a)
            for (who, a) in connection.execute(
                sa.select(AUDIT.c.user_email, AUDIT.c.action).where(
                    AUDIT.c.object_id == "rest-claimed-1"
                )
            )
        ]
    assert (ADMIN[0], "resume (taken over)") in actions
    # The holder closes their own without any box.
    own = new_handoff(desk, "rest-claimed-2")
    post(nurse, desk, "/handoffs/claim", handoff_id=own)
    assert post(nurse, desk, "/handoffs/resume", handoff_id=own) == "resumed"


def test_the_lease_admits_one_holder_at_a_time(desk):
    """Threads of two processes' worth: never two inside; a stale lease expires."""
    inside, overlaps, done = [], [], []

    def hold(n: int) -> None:
        with handoff_desk.handoff_lease(desk.engine, 4242, wait=30):
            if inside:
                overlaps.append(n)
            inside.append(n)
            time.sleep(0.05)
            inside.remove(n)
        done.append(n)

    threads = [threading.Thread(target=hold, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(done) == list(range(8)) and overlaps == []

    with handoff_desk.handoff_lease(desk.engine, 4243):
        with pytest.raises(handoff_desk.HandoffBusy):
            with handoff_desk.handoff_lease(desk.engine, 4243, wait=0.2):
                pass
    # A lease left behind by a crashed process is taken once it has expired.
    with desk.engine.begin() as connection:
        connection.execute(
            sa.insert(HandoffLock.__table__).values(
                handoff_id=4244,
                holder="crashed",
                expires_at=utcnow() - timedelta(seconds=1),
            )
        )
    with handoff_desk.handoff_lease(desk.engine, 4244, wait=0.2):
        pass
