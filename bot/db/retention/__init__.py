"""Retention and "forget me": storage decides how long patient data stays.

`purge()` deletes every conversation whose last event is older than the
retention period, with everything derived from it. Audit entries are the record
of who accessed patient data: they have their own, longer retention
(`AUDIT_RETENTION_DAYS`, six years by default, `bot.settings.storage`) and `purge`
deletes only those older than that, never with the conversations they name.

`forget()` deletes everything about one patient, by conversation id or phone
number, from every table that holds it: Rasa's `events`, `intake_requests`,
`handoffs`, the SMS tables and the console's own tables. Audit entries naming a
forgotten conversation are kept with its id replaced by a keyed hash
(`pseudonym`); one "forget" entry per conversation, under the same hash, records
when. That entry also stops a turn that was running during the deletion from
writing the conversation back (`marks`: see `bot.db.tracker_store` and
`check_not_forgotten`), and after a short wait `forget` looks once more for
anything such a turn left. It returns the Twilio message SIDs of the patient's
SMS, so their bodies can be redacted at Twilio too.

Both run as many short transactions (`BATCH_ROWS` rows or `CHUNK_CONVERSATIONS`
conversations each), so the Rasa server and the action server never wait long
for the database while they run. The staff console's command line runs them
(`python -m bot.console purge|forget`).
"""

from bot.db.retention.common import BATCH_ROWS, CHUNK_CONVERSATIONS, Deleted
from bot.db.retention.forget import FORGET_SETTLE_SECONDS, TWILIO_SID, forget
from bot.db.retention.marks import (
    FORGET_ACTION,
    FORGET_OBJECT_TYPE,
    ConversationForgottenError,
    check_not_forgotten,
    forgotten_at,
    lock_conversation,
    pseudonym,
)
from bot.db.retention.purge import purge

__all__ = [
    "BATCH_ROWS",
    "CHUNK_CONVERSATIONS",
    "FORGET_ACTION",
    "FORGET_OBJECT_TYPE",
    "FORGET_SETTLE_SECONDS",
    "TWILIO_SID",
    "ConversationForgottenError",
    "Deleted",
    "check_not_forgotten",
    "forget",
    "forgotten_at",
    "lock_conversation",
    "pseudonym",
    "purge",
]
