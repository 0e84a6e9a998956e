"""The intake form: a patient's request to be contacted, never lost, stored once."""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import notify, store
from actions.intake_values import (
    MAX_BEST_TIME,
    MAX_CONDITION,
    MAX_NAME,
    NO_EMAIL,
    InvalidValue,
    clean_text,
    correction_target,
    looks_like_correction,
    normalize_email,
    strip_correction,
)
from bot import phi

logger = logging.getLogger(__name__)

FORM_SLOTS = [
    "full_name",
    "phone",
    "email",
    "condition",
    "best_time",
    "consent",
    "intake_confirmed",
]
SMS_CHANNEL = "twilio"
# What the patient reads when the number they typed is refused (`bot.phi.PhoneError`).
PHONE_REPROMPTS = {
    phi.EMPTY: "That doesn't look like a phone number. Could you send it with the "
    "area code, like 555 123 4567?",
    phi.INTERNATIONAL: "That international number doesn't look complete. Could you "
    "check it?",
    phi.SHORT: "That number looks short: could you send all 10 digits, with the "
    "area code?",
    phi.LONG: "That number looks too long. Could you send the 10-digit number, or "
    "start with + for an international one?",
    phi.INVALID: "That doesn't look like a valid US number. Could you check it?",
}


def normalize_phone(value: object) -> str:
    """The number a patient typed, in E.164, by the one phone rule (`bot.phi`).

    Raises:
        InvalidValue: the reprompt for the reason it was refused.
    """
    try:
        return phi.parse_phone(value)
    except phi.PhoneError as error:
        raise InvalidValue(PHONE_REPROMPTS[error.reason]) from None


async def sms_sender_phone(tracker: Tracker) -> Optional[str]:
    """The patient's own number when they write by SMS.

    SMS conversation ids are a keyed hash of the number (`bot.channels.ids`), so the
    number is read from the conversation's SMS records; a conversation of before the
    hashed ids has the number itself as its id.
    """
    from bot.channels import ids
    from bot.channels.sms import store as sms_store

    sender = tracker.sender_id or ""
    if tracker.get_latest_input_channel() != SMS_CHANNEL:
        return None
    if phi.is_e164(sender):
        return sender
    if not ids.is_sms_id(sender):
        return None
    try:
        return await store.run(sms_store.phone_for_conversation, sender)
    except store.StoreError:
        return None  # the form then asks for the number, as on other channels


def _intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


class ValidateIntakeForm(FormValidationAction):
    """Checks every answer of the intake form and explains what was wrong.

    Also takes corrections at any step ("actually my number is ...") and, over SMS,
    the patient's "yes" to the number they are texting from.
    """

    def name(self) -> Text:
        """Validation action of `intake_form`."""
        return "validate_intake_form"

    async def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A correction of the phone number at any step of the form."""
        return self._correction(tracker, "phone")

    async def extract_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A correction of the email address at any step of the form."""
        return self._correction(tracker, "email")

    async def extract_full_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A correction of the name at any step of the form."""
        return self._correction(tracker, "full_name")

    @staticmethod
    def _correction(tracker: Tracker, slot: str) -> Dict[Text, Any]:
        """The value for `slot` in this message, beyond what the slot mapping sees.

        For the question being asked: an answer that plainly has the right shape
        (digits for the phone, an @ for the email), whatever intent the model gave
        it, so "(555) 234-5678" is never mistaken for a question. For any other
        slot: an explicit correction ("actually my number is ...").
        """
        text = tracker.latest_message.get("text") or ""
        if tracker.get_slot("requested_slot") == slot:
            if (slot == "phone" and len(re.sub(r"\D", "", text)) >= 7) or (
                slot == "email" and "@" in text
            ):
                return {slot: text}
            return {}
        if correction_target(text) != slot:
            return {}
        return {slot: strip_correction(text)}

    def _not_a_correction(self, tracker: Tracker, slot: str) -> bool:
        """False when the text meant for `slot` really corrects another answer."""
        text = tracker.latest_message.get("text") or ""
        target = correction_target(text)
        return not (target and target != slot and looks_like_correction(text))

    def validate_full_name(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A name of 2-200 characters with at least one letter."""
        if not self._not_a_correction(tracker, "full_name"):
            return {"full_name": None}
        try:
            name = clean_text(strip_correction(str(value)), MAX_NAME, "your name")
        except InvalidValue as error:
            dispatcher.utter_message(text=str(error))
            return {"full_name": None}
        if len(name) < 2 or not any(c.isalpha() for c in name):
            dispatcher.utter_message(
                text="Could you tell me your full name, for example Ana Lopez?"
            )
            return {"full_name": None}
        return {"full_name": name}

    def _checked(
        self, slot: str, normalize, value: Any, dispatcher, tracker: Tracker
    ) -> Dict[Text, Any]:
        """`normalize(value)` for `slot`, or None with the reprompt it raised.

        A message that corrects another answer is not taken for this one.
        """
        if not self._not_a_correction(tracker, slot):
            return {slot: None}
        try:
            return {slot: normalize(value)}
        except InvalidValue as error:
            dispatcher.utter_message(text=str(error))
            return {slot: None}

    async def validate_phone(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A phone number normalised to E.164 (US by default)."""
        sender = await sms_sender_phone(tracker)
        if sender and _intent(tracker) == "affirm":
            return {"phone": sender}
        return self._checked("phone", normalize_phone, value, dispatcher, tracker)

    def validate_email(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """An email address, or "none" when the patient skips it."""
        if _intent(tracker) == "deny" and tracker.get_slot("requested_slot") == "email":
            return {"email": NO_EMAIL}
        return self._checked("email", normalize_email, value, dispatcher, tracker)

    def validate_condition(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The patient's own words about their pain, up to 2,000 characters."""

        def normalize(text: Any) -> str:
            return clean_text(text, MAX_CONDITION, "that")

        return self._checked("condition", normalize, value, dispatcher, tracker)

    def validate_best_time(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """When to call, in the patient's words."""

        def normalize(text: Any) -> str:
            return clean_text(text, MAX_BEST_TIME, "the best time")

        return self._checked("best_time", normalize, value, dispatcher, tracker)

    def validate_consent(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Only a clear yes counts as consent to be contacted."""
        if value is True:
            return {"consent": True}
        dispatcher.utter_message(response="utter_consent_needed")
        return {"consent": None}

    def validate_intake_confirmed(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Yes sends the request; no invites a correction."""
        if value is True:
            return {"intake_confirmed": True}
        dispatcher.utter_message(response="utter_intake_what_to_change")
        return {"intake_confirmed": None}


class ActionAskPhone(Action):
    """Asks for the phone number; over SMS, confirms the number they text from."""

    def name(self) -> Text:
        """Ask action of the `phone` slot."""
        return "action_ask_phone"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the question."""
        sender = await sms_sender_phone(tracker)
        if sender:
            dispatcher.utter_message(
                response="utter_ask_phone_sms",
                masked_phone=phi.masked_for_patient(sender),
            )
        else:
            dispatcher.utter_message(response="utter_ask_phone")
        return []


def summary_text(tracker: Tracker) -> str:
    """The request as the patient reads it back before sending."""
    email = tracker.get_slot("email")
    return (
        f"Name: {tracker.get_slot('full_name')}\n"
        f"Phone: {tracker.get_slot('phone')}\n"
        f"Email: {'(none)' if email in (None, NO_EMAIL) else email}\n"
        f"About: {tracker.get_slot('condition')}\n"
        f"Best time: {tracker.get_slot('best_time')}"
    )


class ActionAskIntakeConfirmed(Action):
    """Reads the request back and asks the patient to confirm it."""

    def name(self) -> Text:
        """Ask action of the `intake_confirmed` slot."""
        return "action_ask_intake_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the summary with yes/no buttons."""
        dispatcher.utter_message(
            response="utter_ask_intake_confirmed", summary=summary_text(tracker)
        )
        return []


def submission_key(tracker: Tracker) -> str:
    """Same request, same key: a retried action cannot store it twice."""
    values = "|".join(str(tracker.get_slot(slot)) for slot in FORM_SLOTS[:5])
    digest = hashlib.sha256(f"{tracker.sender_id}|{values}".encode()).hexdigest()
    return digest[:64]


class ActionSubmitIntake(Action):
    """Stores the confirmed request once, notifies staff, and tells the patient.

    A failing notification hook never loses the request: it waits in the table with
    the error recorded. If the database is down, the patient is told and keeps every
    answer, so "yes" can send it again.
    """

    def name(self) -> Text:
        """Action name used in rules."""
        return "action_submit_intake"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Saves, notifies, confirms, and clears the form."""
        from bot.db.repository import save_intake

        email = tracker.get_slot("email")
        try:
            intake, created = await store.run(
                save_intake,
                conversation_id=tracker.sender_id,
                channel=tracker.get_latest_input_channel() or "unknown",
                submission_key=submission_key(tracker),
                full_name=tracker.get_slot("full_name"),
                phone_e164=tracker.get_slot("phone"),
                email=None if email in (None, NO_EMAIL) else email,
                condition=tracker.get_slot("condition"),
                best_time=tracker.get_slot("best_time"),
                consent=bool(tracker.get_slot("consent")),
            )
        except (store.StoreError, ValueError):
            dispatcher.utter_message(response="utter_intake_not_saved")
            # Every answer stays; the form asks for confirmation again.
            return [SlotSet("intake_confirmed", None), FollowupAction("intake_form")]
        if created:
            await notify.intake_created(intake.id, intake.channel)
        first_name = str(tracker.get_slot("full_name") or "").split(" ")[0]
        dispatcher.utter_message(
            response="utter_intake_submitted", first_name=first_name
        )
        return [SlotSet(slot, None) for slot in FORM_SLOTS]


class ActionResetIntake(Action):
    """Forgets a form the patient stopped, so nothing half-filled lingers."""

    def name(self) -> Text:
        """Action name used in rules."""
        return "action_reset_intake"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Clears the form's slots."""
        dispatcher.utter_message(response="utter_intake_cancelled")
        return [SlotSet(slot, None) for slot in FORM_SLOTS]
