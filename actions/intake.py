"""The intake form: a patient's request to be contacted, never lost, stored once.

Every question, reprompt and confirmation is a response of `domain.yml`; the
checks of the answers are `actions.intake_values`.
"""

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
    normalize_phone,
    strip_correction,
)
from bot import phi
from bot.vocabulary import (
    ACTION_ASK_INTAKE_CONFIRMED,
    ACTION_ASK_PHONE,
    ACTION_RESET_INTAKE,
    ACTION_SUBMIT_INTAKE,
    AFFIRM,
    BEST_TIME,
    CONDITION,
    CONSENT,
    DENY,
    EMAIL,
    FULL_NAME,
    INTAKE_CONFIRMED,
    INTAKE_FORM,
    INTAKE_FORM_SLOTS,
    PHONE,
    REQUESTED_SLOT,
    SMS,
    UTTER_ASK_INTAKE_CONFIRMED,
    UTTER_ASK_PHONE,
    UTTER_ASK_PHONE_SMS,
    UTTER_CONSENT_NEEDED,
    UTTER_FULL_NAME_INVALID,
    UTTER_INTAKE_CANCELLED,
    UTTER_INTAKE_NOT_SAVED,
    UTTER_INTAKE_SUBMITTED,
    UTTER_INTAKE_WHAT_TO_CHANGE,
    VALIDATE_INTAKE_FORM,
)

logger = logging.getLogger(__name__)

FORM_SLOTS = list(INTAKE_FORM_SLOTS)


async def sms_sender_phone(tracker: Tracker) -> Optional[str]:
    """The patient's own number when they write by SMS.

    SMS conversation ids are a keyed hash of the number (`bot.ids`), so the
    number is read from the conversation's SMS records; a conversation of before the
    hashed ids has the number itself as its id.
    """
    from bot import ids
    from bot.channels.sms import store as sms_store

    sender = tracker.sender_id or ""
    if tracker.get_latest_input_channel() != SMS:
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
        return VALIDATE_INTAKE_FORM

    async def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A correction of the phone number at any step of the form."""
        return self._correction(tracker, PHONE)

    async def extract_email(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A correction of the email address at any step of the form."""
        return self._correction(tracker, EMAIL)

    async def extract_full_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A correction of the name at any step of the form."""
        return self._correction(tracker, FULL_NAME)

    @staticmethod
    def _correction(tracker: Tracker, slot: str) -> Dict[Text, Any]:
        """The value for `slot` in this message, beyond what the slot mapping sees.

        For the question being asked: an answer that plainly has the right shape
        (digits for the phone, an @ for the email), whatever intent the model gave
        it, so "(555) 234-5678" is never mistaken for a question. For any other
        slot: an explicit correction ("actually my number is ...").
        """
        text = tracker.latest_message.get("text") or ""
        if tracker.get_slot(REQUESTED_SLOT) == slot:
            if (slot == PHONE and len(re.sub(r"\D", "", text)) >= 7) or (
                slot == EMAIL and "@" in text
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
        if not self._not_a_correction(tracker, FULL_NAME):
            return {FULL_NAME: None}
        try:
            name = clean_text(strip_correction(str(value)), MAX_NAME, FULL_NAME)
        except InvalidValue as error:
            dispatcher.utter_message(response=error.response, **error.values)
            return {FULL_NAME: None}
        if len(name) < 2 or not any(c.isalpha() for c in name):
            dispatcher.utter_message(response=UTTER_FULL_NAME_INVALID)
            return {FULL_NAME: None}
        return {FULL_NAME: name}

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
            dispatcher.utter_message(response=error.response, **error.values)
            return {slot: None}

    async def validate_phone(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """A phone number normalised to E.164 (US by default)."""
        sender = await sms_sender_phone(tracker)
        if sender and _intent(tracker) == AFFIRM:
            return {PHONE: sender}
        return self._checked(PHONE, normalize_phone, value, dispatcher, tracker)

    def validate_email(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """An email address, or "none" when the patient skips it."""
        if _intent(tracker) == DENY and tracker.get_slot(REQUESTED_SLOT) == EMAIL:
            return {EMAIL: NO_EMAIL}
        return self._checked(EMAIL, normalize_email, value, dispatcher, tracker)

    def validate_condition(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """The patient's own words about their pain, up to 2,000 characters."""

        def normalize(text: Any) -> str:
            return clean_text(text, MAX_CONDITION, CONDITION)

        return self._checked(CONDITION, normalize, value, dispatcher, tracker)

    def validate_best_time(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """When to call, in the patient's words."""

        def normalize(text: Any) -> str:
            return clean_text(text, MAX_BEST_TIME, BEST_TIME)

        return self._checked(BEST_TIME, normalize, value, dispatcher, tracker)

    def validate_consent(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Only a clear yes counts as consent to be contacted."""
        if value is True:
            return {CONSENT: True}
        dispatcher.utter_message(response=UTTER_CONSENT_NEEDED)
        return {CONSENT: None}

    def validate_intake_confirmed(
        self, value: Any, dispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        """Yes sends the request; no invites a correction."""
        if value is True:
            return {INTAKE_CONFIRMED: True}
        dispatcher.utter_message(response=UTTER_INTAKE_WHAT_TO_CHANGE)
        return {INTAKE_CONFIRMED: None}


class ActionAskPhone(Action):
    """Asks for the phone number; over SMS, confirms the number they text from."""

    def name(self) -> Text:
        """Ask action of the `phone` slot."""
        return ACTION_ASK_PHONE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the question."""
        sender = await sms_sender_phone(tracker)
        if sender:
            dispatcher.utter_message(
                response=UTTER_ASK_PHONE_SMS,
                masked_phone=phi.masked_for_patient(sender),
            )
        else:
            dispatcher.utter_message(response=UTTER_ASK_PHONE)
        return []


class ActionAskIntakeConfirmed(Action):
    """Reads the request back and asks the patient to confirm it.

    The response itself lays out the answers (Rasa fills in the slots), with its
    own variant for a skipped email.
    """

    def name(self) -> Text:
        """Ask action of the `intake_confirmed` slot."""
        return ACTION_ASK_INTAKE_CONFIRMED

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Sends the summary with yes/no buttons."""
        dispatcher.utter_message(response=UTTER_ASK_INTAKE_CONFIRMED)
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
        return ACTION_SUBMIT_INTAKE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Saves, notifies, confirms, and clears the form."""
        from bot.db.repository import save_intake

        email = tracker.get_slot(EMAIL)
        try:
            intake, created = await store.run(
                save_intake,
                conversation_id=tracker.sender_id,
                channel=tracker.get_latest_input_channel() or "unknown",
                submission_key=submission_key(tracker),
                full_name=tracker.get_slot(FULL_NAME),
                phone_e164=tracker.get_slot(PHONE),
                email=None if email in (None, NO_EMAIL) else email,
                condition=tracker.get_slot(CONDITION),
                best_time=tracker.get_slot(BEST_TIME),
                consent=bool(tracker.get_slot(CONSENT)),
            )
        except (store.StoreError, ValueError):
            dispatcher.utter_message(response=UTTER_INTAKE_NOT_SAVED)
            # Every answer stays; the form asks for confirmation again.
            return [SlotSet(INTAKE_CONFIRMED, None), FollowupAction(INTAKE_FORM)]
        if created:
            await notify.intake_created(intake.id, intake.channel)
        first_name = str(tracker.get_slot(FULL_NAME) or "").split(" ")[0]
        dispatcher.utter_message(response=UTTER_INTAKE_SUBMITTED, first_name=first_name)
        return [SlotSet(slot, None) for slot in FORM_SLOTS]


class ActionResetIntake(Action):
    """Forgets a form the patient stopped, so nothing half-filled lingers."""

    def name(self) -> Text:
        """Action name used in rules."""
        return ACTION_RESET_INTAKE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        """Clears the form's slots."""
        dispatcher.utter_message(response=UTTER_INTAKE_CANCELLED)
        return [SlotSet(slot, None) for slot in FORM_SLOTS]
