"""The SMS channel end to end: signed webhooks in, a fake Twilio REST API out.

One real Rasa server and action server for the whole module (the session's trained
model, a temporary SQLite database with the migrations), configured with
TWILIO_API_BASE_URL pointing at `FakeTwilio` on loopback. Every test uses its own
phone number; replies are sent in the background, so tests poll for them.
"""

from __future__ import annotations

import itertools
import secrets
import time

import pytest
import requests
import yaml
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from bot import ids
from bot.channels.sms import format as sms_format
from bot.channels.sms.sender import SEND_ATTEMPTS
from bot.db.migrate import upgrade
from bot.db.models import SMS_PENDING_STATUSES
from bot.handoff import HandoffService
from bot.texts import text as catalog_text
from tests.support.paths import ROOT
from tests.support.servers import run_servers
from tests.support.twilio import Failure, FakeTwilio

pytestmark = [pytest.mark.model, pytest.mark.server]

ACCOUNT_SID = "AC" + "0" * 32
CLINIC_NUMBER = "+15550001111"
# What Twilio is told to call: the public address, not the loopback one.
PUBLIC_URL = "https://sms.clinic.example/webhooks/twilio/webhook"
_numbers = itertools.count(2000)
RATE = 12  # messages per number in 10 minutes (CHAT_RATE_LIMIT)

FAQ = yaml.safe_load((ROOT / "data/responses/faq.yml").read_text())["responses"]
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]
# The first reply of every new conversation: who is talking (utter_notice).
NOTICE = sms_format.sms_bodies(DOMAIN["utter_notice"][0]["text"])


def faq_bodies(key: str) -> list:
    """The SMS bodies of a curated answer."""
    return sms_format.sms_bodies(FAQ[f"utter_faq/{key}"][0]["text"])


def first_answer(key: str) -> list:
    """What a new patient receives for a question: the notice, then the answer."""
    return NOTICE + faq_bodies(key)


def new_phone() -> str:
    return f"+1555010{next(_numbers):04d}"


def conversation(phone: str) -> str:
    """The SMS conversation id of a number (the servers share this checkout's key)."""
    return ids.sms_conversation_id(phone)


class SmsWorld:
    """The running servers, the fake Twilio and a signed-webhook client."""

    def __init__(self, servers, twilio: FakeTwilio, token: str, database_url: str):
        self.servers = servers
        self.twilio = twilio
        self.token = token
        self.engine = create_engine(database_url)
        self.webhook = servers.base_url + "/webhooks/twilio/webhook"

    def form(self, phone: str, body: str) -> dict:
        return {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": "SM" + secrets.token_hex(16),
            "From": phone,
            "To": CLINIC_NUMBER,
            "Body": body,
            "NumMedia": "0",
        }

    def sign(self, form: dict, url: str = PUBLIC_URL, token: str = "") -> str:
        return RequestValidator(token or self.token).compute_signature(url, form)

    def post(self, form: dict, signature: str | None = None, **kwargs):
        headers = {} if signature is None else {"X-Twilio-Signature": signature}
        return requests.post(
            self.webhook, data=form, headers=headers, timeout=60, **kwargs
        )

    def text(self, phone: str, body: str) -> requests.Response:
        """Sends a correctly signed SMS from `phone`."""
        form = self.form(phone, body)
        answer = self.post(form, self.sign(form))
        assert answer.status_code == 200, answer.text
        return answer

    def replies(self, phone: str, count: int = 1, timeout: float = 30) -> list:
        """Waits for at least `count` bodies sent to `phone`; returns them all."""
        self.twilio.wait_for(
            lambda sent: sum(m.get("To") == phone for m in sent) >= count, timeout
        )
        return self.twilio.to(phone)

    def rows(self, phone: str) -> list:
        with self.engine.connect() as connection:
            return (
                connection.execute(
                    text(
                        "select * from sms_messages where phone_e164 = :p order by id"
                    ),
                    {"p": phone},
                )
                .mappings()
                .all()
            )

    def settled_rows(self, phone: str, count: int) -> list:
        """Waits for `count` records of `phone`, none of them still pending."""
        return self.wait_rows(
            phone,
            lambda rows: (
                len(rows) >= count
                and all(row["status"] not in SMS_PENDING_STATUSES for row in rows)
            ),
        )

    def wait_rows(self, phone: str, condition, timeout: float = 30) -> list:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows(phone)
            if condition(rows):
                return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"rows: {[dict(r) for r in rows]}")
            time.sleep(0.05)

    def tracker(self, conversation_id: str) -> dict:
        answer = requests.get(
            f"{self.servers.base_url}/conversations/{conversation_id}/tracker",
            params={"token": self.servers.token},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def user_texts(self, phone: str) -> list:
        events = self.tracker(conversation(phone))["events"]
        return [e.get("text") for e in events if e["event"] == "user"]

    def handoff_id(self, conversation_id: str) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                text("select id from handoffs where conversation_id = :c"),
                {"c": conversation_id},
            ).scalar_one()


@pytest.fixture(scope="module")
def sms(trained_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sms")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)  # as `make run` does before starting the servers
    token = secrets.token_hex(16)
    with FakeTwilio(ACCOUNT_SID, token) as twilio:
        env = {
            "DATABASE_URL": url,
            "CLINIC_HOURS": "Mon-Sun 00:00-23:59",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": token,
            "TWILIO_NUMBER": CLINIC_NUMBER,
            "TWILIO_WEBHOOK_URL": PUBLIC_URL,
            "TWILIO_API_BASE_URL": twilio.base_url,
            "CHAT_RATE_LIMIT": f"{RATE}/600",
        }
        with run_servers(trained_model, tmp, extra_env=env) as servers:
            yield SmsWorld(servers, twilio, token, url)


def test_question_gets_the_curated_answer(sms):
    phone = new_phone()
    answer = sms.text(phone, "Is ketamine therapy safe?")
    assert answer.headers["Content-Type"].startswith("text/xml")
    assert "<Response>" in answer.text  # empty TwiML: replies go through the API
    expected = first_answer("is_it_safe")
    assert sms.replies(phone, len(expected)) == expected
    message = next(m for m in sms.twilio.sent if m["To"] == phone)
    assert message["From"] == CLINIC_NUMBER
    rows = sms.settled_rows(phone, len(expected))
    assert {row["status"] for row in rows} == {"sent"}
    assert all(row["twilio_sid"].startswith("SM") for row in rows)
    assert [row["attempts"] for row in rows] == [1] * len(expected)
    assert [row["body"] for row in rows] == [None] * len(expected)  # forgotten


@pytest.mark.parametrize(
    "how", ["no signature", "wrong token", "signed for the loopback URL", "tampered"]
)
def test_forged_request_gets_403_and_no_reply(sms, how):
    phone = new_phone()
    form = sms.form(phone, "Is ketamine therapy safe?")
    signature = {
        "no signature": None,
        "wrong token": sms.sign(form, token="not-the-token"),
        "signed for the loopback URL": sms.sign(form, url=sms.webhook),
        "tampered": sms.sign({**form, "Body": "hello"}),
    }[how]
    answer = sms.post(form, signature)
    assert answer.status_code == 403
    # The next, genuine message is answered, and it is the only one answered.
    sms.text(phone, "Is ketamine therapy safe?")
    expected = first_answer("is_it_safe")
    assert sms.replies(phone, len(expected)) == expected
    assert sms.user_texts(phone) == ["Is ketamine therapy safe?"]


@pytest.mark.parametrize("word", ["STOP", "stop", " Unsubscribe. ", "Cancel"])
def test_stop_then_a_question_gets_no_reply(sms, word):
    phone = new_phone()
    sms.text(phone, word)
    sms.text(phone, "Is ketamine therapy safe?")
    # The question still reaches the conversation (staff can see it); its reply
    # is withheld and recorded as blocked, without its text.
    rows = sms.settled_rows(phone, len(first_answer("is_it_safe")))
    assert {row["status"] for row in rows} == {"blocked"}
    assert all(row["body"] is None for row in rows)
    assert sms.twilio.to(phone) == []
    assert sms.user_texts(phone) == ["Is ketamine therapy safe?"]  # STOP is no question
    with sms.engine.connect() as connection:
        (opted_out,) = connection.execute(
            text("select opted_out from sms_opt_outs where phone_e164 = :p"),
            {"p": phone},
        ).one()
    assert opted_out in (True, 1)


def test_start_resumes_replies(sms):
    phone = new_phone()
    sms.text(phone, "STOP")
    sms.text(phone, "START")
    assert sms.replies(phone) == sms_format.split_for_sms(catalog_text("sms.start"))
    sms.text(phone, "Is ketamine therapy safe?")
    expected = first_answer("is_it_safe")
    assert sms.replies(phone, 1 + len(expected))[1:] == expected
    assert sms.user_texts(phone) == ["Is ketamine therapy safe?"]


def test_help_gets_the_help_text(sms):
    phone = new_phone()
    sms.text(phone, "help")
    (body,) = sms.replies(phone)
    assert body == catalog_text("sms.help")
    assert "MS Pain & Migraine" in body and "STOP" in body
    assert sms_format.segment_count(body) <= sms_format.MAX_SEGMENTS_PER_PART
    assert sms.user_texts(phone) == []


def test_one_picks_the_first_offered_option(sms):
    phone = new_phone()
    sms.text(phone, "hello")
    notice, greeting = sms.replies(phone, 2)
    assert [notice] == NOTICE
    assert "1. Is it safe?\n2. How fast does it work?" in greeting
    assert "Reply 1, 2 or 3." in greeting
    assert "/" not in greeting and "payload" not in greeting
    sms.text(phone, "1")
    expected = faq_bodies("is_it_safe")
    assert sms.replies(phone, 2 + len(expected))[2:] == expected
    # Rasa saw the option's payload, not "1".
    assert sms.user_texts(phone) == ["hello", "Is ketamine therapy safe?"]


def test_long_answer_arrives_in_order_within_the_segment_limit(sms):
    phone = new_phone()
    sms.text(phone, "What are the side effects of ketamine therapy?")
    expected = faq_bodies("side_effects")
    assert len(expected) > 1  # the answer is too long for one SMS
    bodies = sms.replies(phone, len(NOTICE) + len(expected))[len(NOTICE) :]
    assert bodies == expected
    for number, body in enumerate(bodies, 1):
        assert body.endswith(f"({number}/{len(expected)})")
        assert sms_format.segment_count(body) <= sms_format.MAX_SEGMENTS_PER_PART


def test_send_failures_are_retried_then_recorded(sms):
    # Two server errors, then Twilio accepts: the patient gets the answer.
    phone = new_phone()
    sms.twilio.fail_next(1, Failure(status=503, code=20503))
    sms.twilio.fail_next(1, Failure(hang_up=True))
    sms.text(phone, "Is ketamine therapy safe?")
    expected = first_answer("is_it_safe")
    assert sms.replies(phone, len(expected)) == expected
    rows = sms.settled_rows(phone, len(expected))
    assert [row["attempts"] for row in rows] == [3] + [1] * (len(expected) - 1)

    # Server errors on every attempt: recorded as failed, with the body to resend.
    phone = new_phone()
    sms.twilio.fail_next(SEND_ATTEMPTS, Failure(status=500, code=20500))
    sms.text(phone, "Is ketamine therapy safe?")
    expected = first_answer("is_it_safe")
    rows = sms.settled_rows(phone, len(expected))
    assert rows[0]["reply_id"]  # the parts of one reply share it
    ignored = {"id": 0, "created_at": 0, "updated_at": 0, "reply_id": 0}
    assert dict(rows[0]) | ignored == {
        "id": 0,
        "reply_id": 0,
        "conversation_id": conversation(phone),
        "phone_e164": phone,
        "body": NOTICE[0],
        "buttons": None,
        "status": "failed",
        "attempts": SEND_ATTEMPTS,
        "error_code": "20500",
        "twilio_sid": None,
        "created_at": 0,
        "updated_at": 0,
    }
    # The notice failed; the answer, a message of its own, still went out.
    assert sms.twilio.to(phone) == expected[len(NOTICE) :]


def test_unsubscribed_error_is_not_retried_and_opts_the_number_out(sms):
    phone = new_phone()
    before = sms.twilio.requests
    sms.twilio.fail_next(1, Failure(status=400, code=21610))
    sms.text(phone, "Is ketamine therapy safe?")
    first = first_answer("is_it_safe")
    rows = sms.settled_rows(phone, len(first))
    assert (rows[0]["error_code"], rows[0]["attempts"]) == ("21610", 1)
    # Twilio said the number unsubscribed: the rest of the answer is withheld.
    assert [row["status"] for row in rows] == ["failed"] + ["blocked"] * (
        len(first) - 1
    )
    assert sms.twilio.requests == before + 1
    sms.text(phone, "Is ketamine therapy safe?")
    rows = sms.settled_rows(phone, len(first) + len(faq_bodies("is_it_safe")))
    assert rows[-1]["status"] == "blocked"
    assert sms.twilio.to(phone) == []


@pytest.mark.parametrize(
    "form, status",
    [
        ({"To": CLINIC_NUMBER, "Body": "hi"}, 400),  # no From
        ({"From": "not a number", "Body": "hi"}, 400),
        ({"From": "+15550109999", "Body": "x" * 100_000}, 413),
    ],
)
def test_bad_requests_get_a_clear_answer(sms, form, status):
    answer = sms.post(form, sms.sign(form))
    assert answer.status_code == status


def test_malformed_form_data_gets_400(sms):
    signature = sms.sign({})
    for body, content_type in [
        (b"\xff\xfe\x00garbage=\x80", "application/x-www-form-urlencoded"),
        (b'{"From": "+15550100000"}', "application/json"),
    ]:
        answer = requests.post(
            sms.webhook,
            data=body,
            headers={"X-Twilio-Signature": signature, "Content-Type": content_type},
            timeout=30,
        )
        assert answer.status_code == 400


def test_empty_huge_and_junk_bodies_get_a_polite_answer(sms):
    phone = new_phone()
    sms.text(phone, "")  # e.g. a picture only
    assert sms.replies(phone) == [catalog_text("sms.not_text")]
    sms.text(phone, "ketamine " * 1000)  # capped, then answered like any text
    count = len(sms.replies(phone, 3))  # the notice and at least one answer
    sms.text(phone, "\x00\x01\x02 \ufffd\u202e")
    sms.replies(phone, count + 1)
    texts = sms.user_texts(phone)
    assert len(texts) == 2 and len(texts[0]) <= 1600
    assert "\x00" not in texts[1]


def test_staff_reply_reaches_the_patient_unless_opted_out(sms):
    service = HandoffService(
        rasa_url=sms.servers.base_url,
        api_token=sms.servers.token,
        engine=sms.engine,
    )

    def handoff_id(phone):
        return sms.handoff_id(conversation(phone))

    phone = new_phone()
    sms.text(phone, "I want to talk to a person")
    count = len(sms.replies(phone, 2))  # the notice, then "I've asked ... staff"
    service.reply(handoff_id(phone), "Hi, this is Dana from the clinic.", "Dana")
    assert "Hi, this is Dana from the clinic." in sms.replies(phone, count + 1)[-1]

    phone = new_phone()
    sms.text(phone, "I want to talk to a person")
    count = len(sms.replies(phone, 2))
    sms.text(phone, "STOP")
    service.reply(handoff_id(phone), "Hi, this is Dana from the clinic.", "Dana")
    rows = sms.wait_rows(phone, lambda rows: rows[-1]["status"] == "blocked")
    assert rows[-1]["body"] is None
    assert len(sms.twilio.to(phone)) == count


def test_no_full_phone_number_in_the_server_logs(sms):
    logs = {
        path.name: path.read_text(errors="replace")
        for path in sms.servers.log_dir.glob("*.log")
    }
    assert "rasa_server.log" in logs and "action_server.log" in logs
    for name, log in logs.items():
        assert "+1555010" not in log, name
    assert "SMS channel ready" in logs["rasa_server.log"]
    assert "+1******" in logs["rasa_server.log"]  # masked numbers, e.g. retries
    assert "SMS opt-out recorded for +1******" in logs["rasa_server.log"]


def test_intake_prompts_over_sms_never_ask_for_the_opt_out_word(sms):
    """A lone "cancel" unsubscribes a number: the SMS prompts say "stop the form"."""
    phone = new_phone()

    def sent_to_phone_containing(text):
        def check(sent):
            return any(m.get("To") == phone and text in m.get("Body", "") for m in sent)

        return check

    sms.text(phone, "contact me")
    sms.twilio.wait_for(sent_to_phone_containing("full name"), 30)
    prompt = " ".join(sms.twilio.to(phone))
    assert '"stop the form"' in prompt and '"cancel"' not in prompt
    sms.text(phone, "stop the form")
    sms.twilio.wait_for(sent_to_phone_containing("not kept your details"), 30)


def test_the_conversation_id_is_a_keyed_hash_not_the_number(sms):
    phone = new_phone()
    sms.text(phone, "hello")
    with sms.engine.connect() as connection:
        senders = {
            sender
            for (sender,) in connection.execute(
                text("select distinct sender_id from events where sender_id like :p"),
                {"p": f"%{phone[-7:]}%"},
            )
        }
        ours = connection.execute(
            text("select count(*) from events where sender_id = :c"),
            {"c": conversation(phone)},
        ).scalar_one()
    assert senders == set() and ours > 0


def test_rest_cannot_read_an_sms_patients_intake_or_divert_a_staff_reply(sms):
    """The REST channel took the patient's number (or SMS id) as its sender: it
    read back their intake, wrote into their conversation, and the staff reply
    that followed went to the REST channel instead of an SMS."""
    phone = new_phone()
    rest = sms.servers.base_url + "/webhooks/rest/webhook"
    for step in [
        "please have the clinic contact me",
        "Ana Lopez",
        "617 555 0178",
        "skip",
        "burning pain in both feet",
        "weekday mornings",
        "yes",  # consent: the bot reads the request back
    ]:
        sms.text(phone, step)
    sms.twilio.wait_for(
        lambda sent: any(
            m.get("To") == phone and "Ana Lopez" in m.get("Body", "") for m in sent
        ),
        30,
    )

    def attack(message: str) -> None:
        for sender in (phone, conversation(phone)):
            answer = requests.post(
                rest, json={"sender": sender, "message": message}, timeout=60
            )
            assert answer.status_code == 400, answer.text
            assert "Ana" not in answer.text and "555" not in answer.text

    attack("No")  # would have the form read the details back again
    events = sms.tracker(conversation(phone))["events"]
    assert {e.get("input_channel") for e in events if e["event"] == "user"} == {
        "twilio"
    }
    # Nothing was written under the number either (the ids of before the fix).
    assert not any(e["event"] == "user" for e in sms.tracker(phone)["events"])

    sms.text(phone, "yes")  # the patient confirms: their request is sent
    sms.twilio.wait_for(
        lambda sent: any(
            m.get("To") == phone and "Thank you, Ana" in m.get("Body", "") for m in sent
        ),
        30,
    )
    sms.text(phone, "I want to talk to a person")
    sms.twilio.wait_for(
        lambda sent: any(
            m.get("To") == phone and "clinic's staff" in m.get("Body", "") for m in sent
        ),
        30,
    )
    attack("never mind, I'm fine")  # would make REST the "latest" channel
    count = len(sms.replies(phone))
    service = HandoffService(sms.servers.base_url, sms.servers.token, sms.engine)
    reply = "Hi Ana, this is Dana from the clinic."
    service.reply(sms.handoff_id(conversation(phone)), reply, "Dana")
    assert reply in sms.replies(phone, count + 1)[-1]  # by SMS, not swallowed


def test_a_flood_of_sms_is_refused_with_one_notice_and_nothing_stored(sms):
    phone = new_phone()
    for _ in range(RATE):
        sms.text(phone, "hello")
    assert len(sms.user_texts(phone)) == RATE
    for number in range(3):
        answer = sms.text(phone, f"flood {number}")
        assert "<Response>" in answer.text
    sms.twilio.wait_for(
        lambda sent: any(
            m.get("To") == phone and "faster than I can answer" in m.get("Body", "")
            for m in sent
        ),
        30,
    )
    time.sleep(1)  # a second notice would be on its way by now
    notices = [b for b in sms.twilio.to(phone) if "faster than I can answer" in b]
    assert len(notices) == 1  # once per window, not once per message
    texts = sms.user_texts(phone)
    assert len(texts) == RATE and not any("flood" in t for t in texts)
    sms.text(phone, "STOP")  # an opt-out is never held back
    with sms.engine.connect() as connection:
        (opted_out,) = connection.execute(
            text("select opted_out from sms_opt_outs where phone_e164 = :p"),
            {"p": phone},
        ).one()
    assert opted_out in (True, 1)


def test_staff_reply_to_a_conversation_of_before_the_hmac_ids_goes_by_sms(sms):
    """Rows from before the HMAC ids keep the number as conversation id."""
    from bot.db.engine import session_scope
    from bot.db.repository import open_handoff

    phone = new_phone()
    with session_scope(sms.engine) as db:
        handoff_id = open_handoff(
            db,
            conversation_id=phone,
            channel="twilio",
            reason="requested",
            summary="asked for a person",
        ).id
    service = HandoffService(sms.servers.base_url, sms.servers.token, sms.engine)
    service.reply(handoff_id, "Hello from the clinic, this is Sam.", "Sam")
    assert sms.replies(phone) == ["Hello from the clinic, this is Sam."]
    (row,) = sms.settled_rows(phone, 1)
    assert row["conversation_id"] == phone and row["status"] == "sent"
    # The reply started the conversation's session through Rasa's API, which has
    # no channel: the session start is stored, not lost to an error.
    with sms.engine.connect() as connection:
        kinds = (
            connection.exec_driver_sql(
                "select type_name from events where sender_id = ?", (phone,)
            )
            .scalars()
            .all()
        )
    assert "session_started" in kinds, kinds


def _wait_for_988(sms, phone: str, timeout: float = 30) -> list:
    """Waits until a body sent to `phone` names 988 (only the crisis guidance does)."""
    sms.twilio.wait_for(
        lambda sent: any(
            "988" in m.get("Body", "") for m in sent if m.get("To") == phone
        ),
        timeout,
    )
    return sms.twilio.to(phone)


def test_crisis_mid_conversation_gets_988_by_sms(sms):
    phone = new_phone()
    sms.text(phone, "Is ketamine therapy safe?")
    before = sms.replies(phone, len(first_answer("is_it_safe")))
    assert not any("988" in body for body in before)
    sms.text(phone, "honestly whats the point of carrying on anymore")
    assert any("988" in body for body in _wait_for_988(sms, phone))


def test_crisis_while_held_by_staff_gets_988_by_sms_and_turns_urgent(sms):
    phone = new_phone()
    sms.text(phone, "I want to talk to a person")
    count = len(sms.replies(phone, 2))  # the notice, then "I've asked ... staff"
    sms.text(phone, "how fast does it work")  # held: no bot answer
    time.sleep(2)
    assert len(sms.twilio.to(phone)) == count
    sms.text(phone, "i took all my pills an hour ago")
    assert any("988" in body for body in _wait_for_988(sms, phone))
    with sms.engine.connect() as connection:
        urgent = connection.execute(
            text("select urgent from handoffs where conversation_id = :c"),
            {"c": conversation(phone)},
        ).scalar_one()
    assert urgent is True or urgent == 1


def test_crisis_at_the_end_of_a_1500_character_sms_gets_988(sms):
    phone = new_phone()
    sms.text(phone, "hello")
    sms.replies(phone, 2)
    opening = (
        "I have had burning pain in my feet for years and tried every medicine my "
        "doctors suggested, gabapentin, duloxetine and physical therapy, and my "
        "insurance keeps refusing the newer options. "
    ) * 12
    ending = "I have decided to end my life this weekend."
    message = opening[: 1500 - len(ending) - 1] + " " + ending
    assert len(message) == 1500
    sms.text(phone, message)
    assert any("988" in body for body in _wait_for_988(sms, phone))


def test_a_patient_waiting_by_sms_is_told_once_and_1_starts_the_intake_form(sms):
    from datetime import timedelta

    from bot.clinic_hours import ClinicHours
    from bot.db.engine import session_scope
    from bot.db.models import Handoff, utcnow
    from bot.handoff.waiting import sweep
    from tests.support.clinic_time import ALWAYS_OPEN, daytime_zone

    phone = new_phone()
    sms.text(phone, "I want to talk to a person")
    count = len(sms.replies(phone, 2))  # the notice, then "I've asked ... staff"
    handoff_id = sms.handoff_id(conversation(phone))
    asked = utcnow() - timedelta(hours=3, minutes=5)  # as if asked 3 h 5 min ago
    with session_scope(sms.engine) as db:
        db.get(Handoff, handoff_id).created_at = asked
    service = HandoffService(sms.servers.base_url, sms.servers.token, sms.engine)
    hours = ClinicHours.parse(ALWAYS_OPEN, daytime_zone())
    assert sweep(service, hours, timedelta(hours=3)) == [handoff_id]
    assert sweep(service, hours, timedelta(hours=3)) == []
    notice = sms.replies(phone, count + 1)[count]
    assert "longer than usual" in notice and "1. Leave my details" in notice
    sms.text(phone, "1")
    sms.twilio.wait_for(
        lambda sent: any(
            "full name" in m.get("Body", "") for m in sent if m.get("To") == phone
        ),
        30,
    )
    assert sms.user_texts(phone)[-1] == "Yes, please contact me"
