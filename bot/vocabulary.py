"""The dialogue's shared names: intents, actions, responses, slots and channels.

`domain.yml` defines these names; Python code refers to them through this module
only, so renaming one in `domain.yml` is one edit here, and
`tests/unit/test_vocabulary.py` fails until it is made (every name below must exist
in the domain, the catalog or the credentials). Rasa's own built-in names that the
code relies on (`action_listen`, `nlu_fallback`, `requested_slot`) are here too.

Plain constants, no imports: the actions, the NLU components, the channels, the
console and the storage layer can all import it.

Holds, in order: intents; actions (custom actions, the form, Rasa's defaults);
responses used by code; slots, the intake form's slots and the skipped-email value;
entities; channel names.
"""

# -- Intents (domain.yml `intents`; the plain ones are catalog/faq-catalog.yml's) --
FAQ = "faq"  # the retrieval intent: the answer is `faq/<catalog key>`
GREET = "greet"
GOODBYE = "goodbye"
THANK = "thank"
AFFIRM = "affirm"
DENY = "deny"
BOT_CHALLENGE = "bot_challenge"
REQUEST_HUMAN = "request_human"
START_INTAKE = "start_intake"
PERSONAL_MEDICAL_ADVICE = "personal_medical_advice"
CLINIC_LOGISTICS = "clinic_logistics"
CRISIS = "crisis"
OUT_OF_SCOPE = "out_of_scope"
CANCEL = "cancel"
# Rasa's intent for "too uncertain to act on" (set by the AnswerGate).
NLU_FALLBACK = "nlu_fallback"

# -- Actions (domain.yml `actions` and `forms`, and Rasa's defaults) --
ACTION_SESSION_START = "action_session_start"
ACTION_CRISIS_RESPONSE = "action_crisis_response"
ACTION_CLARIFY = "action_clarify"
ACTION_HANDOFF = "action_handoff"
VALIDATE_INTAKE_FORM = "validate_intake_form"
ACTION_ASK_PHONE = "action_ask_phone"
ACTION_ASK_INTAKE_CONFIRMED = "action_ask_intake_confirmed"
ACTION_SUBMIT_INTAKE = "action_submit_intake"
ACTION_RESET_INTAKE = "action_reset_intake"
INTAKE_FORM = "intake_form"
# The action that sends the curated FAQ answer (retrieval intent `faq`).
UTTER_FAQ = "utter_faq"
# Rasa's "the bot waits for the patient".
ACTION_LISTEN = "action_listen"

# -- Responses the code sends by name (domain.yml `responses`) --
UTTER_NOTICE = "utter_notice"
UTTER_CRISIS = "utter_crisis"
UTTER_NO_MEDICAL_ADVICE = "utter_no_medical_advice"
UTTER_CANNOT_ANSWER_LOGISTICS = "utter_cannot_answer_logistics"
UTTER_ACTION_FAILED = "utter_action_failed"
UTTER_ASK_PHONE = "utter_ask_phone"
UTTER_ASK_PHONE_SMS = "utter_ask_phone_sms"
UTTER_ASK_INTAKE_CONFIRMED = "utter_ask_intake_confirmed"
UTTER_CONSENT_NEEDED = "utter_consent_needed"
UTTER_INTAKE_WHAT_TO_CHANGE = "utter_intake_what_to_change"
UTTER_INTAKE_SUBMITTED = "utter_intake_submitted"
UTTER_INTAKE_NOT_SAVED = "utter_intake_not_saved"
UTTER_INTAKE_CANCELLED = "utter_intake_cancelled"
UTTER_HANDOFF_IN_HOURS = "utter_handoff_in_hours"
UTTER_HANDOFF_OUT_OF_HOURS = "utter_handoff_out_of_hours"
UTTER_HANDOFF_UNAVAILABLE = "utter_handoff_unavailable"
# "Did you mean...?" with 1, 2 or 3 topics, then the offer of a person.
UTTER_CLARIFY_1 = "utter_clarify_1"
UTTER_CLARIFY_2 = "utter_clarify_2"
UTTER_CLARIFY_3 = "utter_clarify_3"
UTTER_CLARIFY_OFFER_PERSON = "utter_clarify_offer_person"
# Reprompts of the intake form's checks (actions/intake_values.py).
UTTER_FULL_NAME_MISSING = "utter_full_name_missing"
UTTER_FULL_NAME_TOO_LONG = "utter_full_name_too_long"
UTTER_FULL_NAME_INVALID = "utter_full_name_invalid"
UTTER_PHONE_NOT_A_NUMBER = "utter_phone_not_a_number"
UTTER_PHONE_INTERNATIONAL_INCOMPLETE = "utter_phone_international_incomplete"
UTTER_PHONE_TOO_SHORT = "utter_phone_too_short"
UTTER_PHONE_TOO_LONG = "utter_phone_too_long"
UTTER_PHONE_NOT_US = "utter_phone_not_us"
UTTER_EMAIL_INVALID = "utter_email_invalid"
UTTER_CONDITION_MISSING = "utter_condition_missing"
UTTER_CONDITION_TOO_LONG = "utter_condition_too_long"
UTTER_BEST_TIME_MISSING = "utter_best_time_missing"
UTTER_BEST_TIME_TOO_LONG = "utter_best_time_too_long"

# -- Slots (domain.yml `slots`, and Rasa's `requested_slot`) --
CRISIS_FLAGGED = "crisis_flagged"  # set by action_crisis_response; staff filter on it
FULL_NAME = "full_name"
PHONE = "phone"
EMAIL = "email"
CONDITION = "condition"
BEST_TIME = "best_time"
CONSENT = "consent"
INTAKE_CONFIRMED = "intake_confirmed"
REQUESTED_SLOT = "requested_slot"
# The `email` slot's value when the patient skips it (a slot value, not a name:
# `utter_ask_intake_confirmed` has a variant for it).
NO_EMAIL = "none"
# The intake form's questions, in the order it asks them (domain.yml `forms`).
INTAKE_FORM_SLOTS = (
    FULL_NAME,
    PHONE,
    EMAIL,
    CONDITION,
    BEST_TIME,
    CONSENT,
    INTAKE_CONFIRMED,
)

# -- Entities (domain.yml `entities`, tagged by bot/nlu/spacy_pipeline.py) --
MEDICATION = "medication"
# The other entity, `condition`, shares its name with the slot: CONDITION above.

# -- Channels (input channel names: credentials.yml's classes, domain.yml variants) --
WIDGET = "socketio"
SMS = "twilio"
REST = "rest"
CHANNELS = (WIDGET, SMS, REST)
