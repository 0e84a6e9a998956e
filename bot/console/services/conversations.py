"""Conversations for staff: the list, one conversation, its review, tags, labels.

Every view or change of a conversation is written to the audit log here, in the
same transaction as the read or the change.
"""

from __future__ import annotations

from bot.db import summaries
from bot.db.models import OUTCOMES
from bot.db.queries import audit, common, conversations, saved_replies, transcripts
from bot.db.queries import corrections as labels


def list_page(engine, args, zone):
    """One page of conversations with the filters' choices."""
    summaries.refresh(engine, wait=False)  # another request may be refreshing
    f = conversations.ConversationFilter.from_args(args)
    with engine.begin() as connection:
        items, total = conversations.list_conversations(connection, f, zone)
        return {
            "filter": f,
            "items": items,
            "total": total,
            "pages": max(1, -(-total // common.PAGE_SIZE)),
            "channels": conversations.channels(connection),
            "tags": conversations.all_tags(connection),
            "answer_keys": labels.answer_keys(),
            "outcomes": OUTCOMES,
        }


def view(engine, conversation_id: str, user_email: str, ip):
    """One conversation and its transcript, audited; None when there is none."""
    summaries.refresh(engine, wait=False)  # another request may be refreshing
    with engine.begin() as connection:
        info = conversations.conversation(connection, conversation_id)
        items = transcripts.transcript(connection, conversation_id)
        if info["summary"] is None and not items:
            return None
        audit.record(
            connection, user_email, "view", "conversation", conversation_id, ip
        )
        replying = any(h["status"] != "closed" for h in info["handoffs"])
        return {
            **info,
            "items": items,
            # For the reply form's "Saved reply" choice.
            "saved_replies": saved_replies.reply_choices(connection)
            if replying
            else [],
        }


def change(engine, action: str, conversation_id: str, user_email: str, ip, fn, *args):
    """Applies one change to a conversation (review, note, tag, label), audited."""
    with engine.begin() as connection:
        fn(connection, conversation_id, *args)
        audit.record(
            connection, user_email, action, "conversation", conversation_id, ip
        )


def list_corrections(engine):
    """Every correction, newest first."""
    with engine.begin() as connection:
        return labels.list_corrections(connection)


def export_corrections(engine, user_email: str, ip):
    """The corrections as NLU YAML; the export is audited."""
    with engine.begin() as connection:
        audit.record(connection, user_email, "export", "corrections", None, ip)
        return labels.corrections_yaml(connection)
