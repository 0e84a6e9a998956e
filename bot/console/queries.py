"""What the console's pages read and write: conversations, reviews, corrections.

Every function takes a SQLAlchemy `Connection` (inside `engine.begin()`), so a
page's reads and its audit entry commit together. Lists read the derived
`conversation_summaries` (bot/console/summaries.py); a transcript reads Rasa's
`events` rows of one conversation (`sender_id` is indexed by Rasa). The audit log
page reads `console_audit_log`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from bot.console import summaries
from bot.console.models import (
    OUTCOMES,
    REVIEW_STATUSES,
    AuditEntry,
    ConversationAnswer,
    ConversationReview,
    ConversationSummary,
    ConversationTag,
    MessageCorrection,
)
from bot.db.models import Handoff, IntakeRequest
from bot.settings import PROJECT_ROOT

PAGE_SIZE = 50
TRANSCRIPT_LIMIT = 2000  # events shown of one conversation
TAG_PATTERN = re.compile(r"[a-z0-9][a-z0-9 _-]{0,63}")
NOTE_LIMIT = 4000
# Non-message events shown in a transcript, with what staff read.
NOTABLE_ACTIONS = {
    "action_handoff": "handed to staff",
    "action_crisis_response": "crisis guidance sent",
    "action_submit_intake": "intake request submitted",
    "action_clarify": "asked the patient to clarify",
    "action_session_start": "session started",
}

S = ConversationSummary.__table__
R = ConversationReview.__table__
T = ConversationTag.__table__
A = ConversationAnswer.__table__
C = MessageCorrection.__table__
H = Handoff.__table__
I = IntakeRequest.__table__  # noqa: E741 - table alias, like the others
AU = AuditEntry.__table__


@lru_cache(maxsize=1)
def catalog_labels() -> Tuple[str, ...]:
    """The labels a message can be corrected to: `faq/<key>` and plain intents."""
    catalog = yaml.safe_load(
        (PROJECT_ROOT / "catalog" / "faq-catalog.yml").read_text(encoding="utf-8")
    )
    return tuple(
        [f"faq/{key}" for key in sorted(catalog["faq"])] + sorted(catalog["intents"])
    )


@lru_cache(maxsize=1)
def answer_keys() -> Tuple[str, ...]:
    """The catalog's FAQ answer keys."""
    return tuple(label[4:] for label in catalog_labels() if label.startswith("faq/"))


# --- conversation list --------------------------------------------------------------


@dataclass(frozen=True)
class ConversationFilter:
    """The list's filters, as given in the query string (all optional)."""

    date_from: Optional[date] = None
    date_to: Optional[date] = None
    channel: str = ""
    outcome: str = ""
    answer_key: str = ""
    review: str = ""
    tag: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args: Dict[str, str]) -> ConversationFilter:
        """Reads the filters from query arguments, ignoring invalid values."""
        outcome = args.get("outcome", "")
        review = args.get("review", "")
        return cls(
            date_from=_day_arg(args, "from"),
            date_to=_day_arg(args, "to"),
            channel=args.get("channel", "")[:64],
            outcome=outcome if outcome in OUTCOMES else "",
            answer_key=args.get("answer_key", "")[:128],
            review=review if review in REVIEW_STATUSES else "",
            tag=args.get("tag", "").strip().lower()[:64],
            q=args.get("q", "").strip()[:200],
            page=_page_arg(args),
        )

    def query_args(self, **changes: Any) -> Dict[str, str]:
        """The filters as query arguments (for links to other pages)."""
        values = {
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "channel": self.channel,
            "outcome": self.outcome,
            "answer_key": self.answer_key,
            "review": self.review,
            "tag": self.tag,
            "q": self.q,
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _day_arg(args: Dict[str, str], name: str) -> Optional[date]:
    try:
        return date.fromisoformat(args.get(name, ""))
    except ValueError:
        return None


def _page_arg(args: Dict[str, str]) -> int:
    try:
        return max(1, min(int(args.get("page", "1")), 100000))
    except ValueError:
        return 1


def _day_start(day: date, zone: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=zone).timestamp()


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(f: ConversationFilter, zone: ZoneInfo) -> List[Any]:
    where: List[Any] = []
    if f.date_from:
        where.append(S.c.last_at >= _day_start(f.date_from, zone))
    if f.date_to:
        where.append(S.c.first_at < _day_start(f.date_to + timedelta(days=1), zone))
    if f.channel:
        where.append(S.c.channel == f.channel)
    if f.outcome == "handoff":
        where.append(
            sa.or_(S.c.handoff, S.c.conversation_id.in_(sa.select(H.c.conversation_id)))
        )
    elif f.outcome == "intake":
        where.append(
            sa.or_(S.c.intake, S.c.conversation_id.in_(sa.select(I.c.conversation_id)))
        )
    elif f.outcome:
        where.append(S.c[f.outcome].is_(True))
    if f.answer_key:
        where.append(
            sa.exists().where(
                A.c.conversation_id == S.c.conversation_id,
                A.c.answer_key == f.answer_key,
            )
        )
    if f.review == "reviewed":
        where.append(R.c.status == "reviewed")
    elif f.review == "unreviewed":
        where.append(sa.or_(R.c.status.is_(None), R.c.status == "unreviewed"))
    if f.tag:
        where.append(
            sa.exists().where(
                T.c.conversation_id == S.c.conversation_id, T.c.tag == f.tag
            )
        )
    if f.q:
        pattern = _like(f.q)
        where.append(
            sa.or_(
                S.c.search_text.like(pattern, escape="\\"),
                sa.func.lower(S.c.conversation_id).like(pattern, escape="\\"),
            )
        )
    return where


def list_conversations(
    connection: Connection, f: ConversationFilter, zone: ZoneInfo
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of conversations, newest first, and the total matching count."""
    joined = S.outerjoin(R, R.c.conversation_id == S.c.conversation_id)
    where = _conditions(f, zone)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(joined).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(S, R.c.status.label("review_status"), R.c.note)
        .select_from(joined)
        .where(*where)
        .order_by(S.c.last_at.desc(), S.c.conversation_id)
        .limit(PAGE_SIZE)
        .offset((f.page - 1) * PAGE_SIZE)
    ).mappings()
    items = [dict(row) for row in rows]
    ids = [item["conversation_id"] for item in items]
    tags: Dict[str, List[str]] = {}
    keys: Dict[str, List[str]] = {}
    if ids:
        for cid, tag in connection.execute(
            sa.select(T.c.conversation_id, T.c.tag)
            .where(T.c.conversation_id.in_(ids))
            .order_by(T.c.tag)
        ):
            tags.setdefault(cid, []).append(tag)
        for cid, key in connection.execute(
            sa.select(A.c.conversation_id, A.c.answer_key)
            .where(A.c.conversation_id.in_(ids))
            .order_by(A.c.count.desc(), A.c.answer_key)
        ):
            keys.setdefault(cid, []).append(key)
    for item in items:
        item["tags"] = tags.get(item["conversation_id"], [])
        item["answer_keys"] = keys.get(item["conversation_id"], [])
    return items, total


def channels(connection: Connection) -> List[str]:
    """The channels conversations came in on (for the filter)."""
    return [
        c
        for (c,) in connection.execute(
            sa.select(S.c.channel).where(S.c.channel.is_not(None)).distinct()
        )
    ]


def all_tags(connection: Connection) -> List[str]:
    """Every tag in use (for the filter)."""
    return [
        t
        for (t,) in connection.execute(sa.select(T.c.tag).distinct().order_by(T.c.tag))
    ]


# --- one conversation ----------------------------------------------------------------


def _bot_item(event: Dict[str, Any]) -> Dict[str, Any]:
    data = event.get("data") or {}
    metadata = event.get("metadata") or {}
    buttons = [str(b.get("title", "")) for b in data.get("buttons") or [] if b]
    return {
        "kind": "bot",
        "text": str(event.get("text") or ""),
        "buttons": buttons,
        "staff": bool(metadata.get("staff_reply")),
        "staff_name": metadata.get("staff_name"),
        "utter_action": metadata.get("utter_action"),
    }


def _event_item(row: Any) -> Optional[Dict[str, Any]]:
    kind = row.type_name
    if kind == "user":
        user = summaries.parse_user_event(row.data)
        return {"kind": "user", **user}
    if kind == "bot":
        try:
            return _bot_item(json.loads(row.data or "{}"))
        except ValueError:
            return None
    if kind == "action" and row.action_name in NOTABLE_ACTIONS:
        return {"kind": "event", "text": NOTABLE_ACTIONS[row.action_name]}
    if kind == "active_loop":
        name = row.action_name
        return {
            "kind": "event",
            "text": f"form {name} started" if name else "form ended",
        }
    if kind in ("pause", "resume"):
        what = "paused (staff hold the conversation)" if kind == "pause" else "resumed"
        return {"kind": "event", "text": f"bot {what}"}
    if kind == "slot" and row.action_name == summaries.CRISIS_SLOT:
        # The session start sets the slot to false: only true is a flag.
        if summaries.crisis_flag_set(row.data):
            return {"kind": "event", "text": "flagged as crisis"}
        return None
    return None


def transcript(connection: Connection, conversation_id: str) -> List[Dict[str, Any]]:
    """The conversation's messages and notable events, oldest first."""
    if not summaries.events_table_exists(connection):
        return []
    E = summaries.EVENTS
    rows = connection.execute(
        sa.select(E.c.id, E.c.type_name, E.c.timestamp, E.c.action_name, E.c.data)
        .where(E.c.sender_id == conversation_id)
        .order_by(E.c.id)
        .limit(TRANSCRIPT_LIMIT)
    )
    corrections = {
        row.event_id: row.corrected
        for row in connection.execute(
            sa.select(C.c.event_id, C.c.corrected).where(
                C.c.conversation_id == conversation_id
            )
        )
    }
    items = []
    for row in rows:
        item = _event_item(row)
        if item is not None:
            item.update(event_id=row.id, timestamp=row.timestamp)
            item["correction"] = corrections.get(row.id)
            items.append(item)
    return items


def conversation(connection: Connection, conversation_id: str) -> Dict[str, Any]:
    """The conversation's summary, review, tags and handoffs and intake requests."""
    summary = (
        connection.execute(sa.select(S).where(S.c.conversation_id == conversation_id))
        .mappings()
        .first()
    )
    review = (
        connection.execute(sa.select(R).where(R.c.conversation_id == conversation_id))
        .mappings()
        .first()
    )
    tags = [
        t
        for (t,) in connection.execute(
            sa.select(T.c.tag)
            .where(T.c.conversation_id == conversation_id)
            .order_by(T.c.tag)
        )
    ]
    handoffs = (
        connection.execute(
            sa.select(H)
            .where(H.c.conversation_id == conversation_id)
            .order_by(H.c.id.desc())
        )
        .mappings()
        .all()
    )
    intakes = (
        connection.execute(
            sa.select(I.c.id, I.c.status, I.c.created_at)
            .where(I.c.conversation_id == conversation_id)
            .order_by(I.c.id.desc())
        )
        .mappings()
        .all()
    )
    return {
        "summary": dict(summary) if summary else None,
        "review": dict(review) if review else None,
        "tags": tags,
        "handoffs": [dict(h) for h in handoffs],
        "intakes": [dict(i) for i in intakes],
    }


def _upsert_review(connection: Connection, conversation_id: str, **values: Any) -> None:
    values["updated_at"] = sa.func.now()
    updated = connection.execute(
        R.update().where(R.c.conversation_id == conversation_id).values(**values)
    )
    if updated.rowcount == 0:
        connection.execute(R.insert().values(conversation_id=conversation_id, **values))


def set_review(
    connection: Connection, conversation_id: str, status: str, user_email: str
) -> None:
    """Marks a conversation reviewed or unreviewed."""
    if status not in REVIEW_STATUSES:
        raise ValueError("unknown review status")
    _upsert_review(connection, conversation_id, status=status, updated_by=user_email)


def set_note(
    connection: Connection, conversation_id: str, note: str, user_email: str
) -> None:
    """Stores staff's note on a conversation (empty text clears it)."""
    note = (note or "").replace("\x00", "").strip()
    if len(note) > NOTE_LIMIT:
        raise ValueError(f"the note is too long (at most {NOTE_LIMIT} characters)")
    _upsert_review(
        connection, conversation_id, note=note or None, updated_by=user_email
    )


def add_tag(
    connection: Connection, conversation_id: str, tag: str, user_email: str
) -> str:
    """Tags a conversation (lower-case letters, digits, space, - and _)."""
    tag = (tag or "").strip().lower()
    if not TAG_PATTERN.fullmatch(tag):
        raise ValueError("a tag is 1-64 lower-case letters, digits, spaces, - or _")
    exists = connection.execute(
        sa.select(T.c.tag).where(T.c.conversation_id == conversation_id, T.c.tag == tag)
    ).first()
    if not exists:
        connection.execute(
            T.insert().values(
                conversation_id=conversation_id, tag=tag, created_by=user_email
            )
        )
    return tag


def remove_tag(connection: Connection, conversation_id: str, tag: str) -> None:
    """Removes a tag from a conversation."""
    connection.execute(
        T.delete().where(T.c.conversation_id == conversation_id, T.c.tag == tag)
    )


# --- corrections ---------------------------------------------------------------------


def correct_message(
    connection: Connection,
    conversation_id: str,
    event_id: int,
    label: str,
    user_email: str,
) -> None:
    """Records the right label of one patient message (replacing an earlier one).

    Raises:
        ValueError: unknown label.
        LookupError: no such patient message in this conversation.
    """
    if label not in catalog_labels():
        raise ValueError("unknown label: pick one of the catalog's keys")
    E = summaries.EVENTS
    row = connection.execute(
        sa.select(E.c.data).where(
            E.c.id == event_id,
            E.c.sender_id == conversation_id,
            E.c.type_name == "user",
        )
    ).first()
    if row is None:
        raise LookupError("no such patient message in this conversation")
    user = summaries.parse_user_event(row.data)
    predicted = (
        f"faq/{user['answer_key']}"
        if user["intent"] == "faq" and user["answer_key"]
        else user["intent"]
    )
    connection.execute(C.delete().where(C.c.event_id == event_id))
    connection.execute(
        C.insert().values(
            conversation_id=conversation_id,
            event_id=event_id,
            text=" ".join(user["text"].split())[:2000] or "(empty)",
            predicted=(predicted or None) and str(predicted)[:160],
            corrected=label,
            created_by=user_email,
            created_at=sa.func.now(),
        )
    )


def list_corrections(connection: Connection) -> List[Dict[str, Any]]:
    """Every correction, newest first."""
    return [
        dict(row)
        for row in connection.execute(sa.select(C).order_by(C.c.id.desc())).mappings()
    ]


def corrections_yaml(connection: Connection) -> str:
    """The corrections as Rasa NLU training data (YAML), ready for `data/nlu/`."""
    by_label: Dict[str, List[str]] = {}
    for row in connection.execute(sa.select(C.c.corrected, C.c.text).order_by(C.c.id)):
        text = " ".join(row.text.split())
        if text and text not in by_label.setdefault(row.corrected, []):
            by_label[row.corrected].append(text)
    lines = [
        "# Staff corrections exported from the console: check each example against",
        "# docs/labeling-guide.md, then move it to the right data/nlu/*.yml file.",
        'version: "3.1"',
        "nlu:",
    ]
    for label in sorted(by_label):
        lines += [f"- intent: {label}", "  examples: |"]
        lines += [f"    - {text}" for text in by_label[label]]
    if not by_label:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


# --- intake requests ----------------------------------------------------------------


def list_intakes(
    connection: Connection, status: str = "", page: int = 1
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of intake requests, newest first, and the total."""
    where = [I.c.status == status] if status else []
    total = connection.execute(
        sa.select(sa.func.count()).select_from(I).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(I)
        .where(*where)
        .order_by(I.c.created_at.desc(), I.c.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).mappings()
    return [dict(r) for r in rows], total


def all_intakes(connection: Connection, status: str = "") -> Sequence[Any]:
    """Every intake request (for the CSV export), oldest first."""
    where = [I.c.status == status] if status else []
    return (
        connection.execute(sa.select(I).where(*where).order_by(I.c.id)).mappings().all()
    )


# --- audit log ----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """The audit log page's filters, as given in the query string (all optional)."""

    user: str = ""  # part of the staff email, any case
    action: str = ""
    date_from: Optional[date] = None
    date_to: Optional[date] = None
    page: int = 1

    @classmethod
    def from_args(cls, args: Dict[str, str]) -> AuditFilter:
        """Reads the filters from query arguments, ignoring invalid values."""
        return cls(
            user=args.get("user", "").strip()[:254],
            action=args.get("action", "").strip()[:64],
            date_from=_day_arg(args, "from"),
            date_to=_day_arg(args, "to"),
            page=_page_arg(args),
        )

    def query_args(self, **changes: Any) -> Dict[str, str]:
        """The filters as query arguments (for links to other pages)."""
        values = {
            "user": self.user,
            "action": self.action,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "page": str(self.page),
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v and not (k == "page" and v == "1")}


def _audit_conditions(f: AuditFilter, zone: ZoneInfo) -> List[Any]:
    where: List[Any] = []
    if f.user:
        where.append(sa.func.lower(AU.c.user_email).like(_like(f.user), escape="\\"))
    if f.action:
        where.append(AU.c.action == f.action)
    if f.date_from:
        where.append(AU.c.at >= datetime.combine(f.date_from, time(0), tzinfo=zone))
    if f.date_to:
        end = datetime.combine(f.date_to + timedelta(days=1), time(0), tzinfo=zone)
        where.append(AU.c.at < end)
    return where


def list_audit(
    connection: Connection, f: AuditFilter, zone: ZoneInfo
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of audit entries, newest first, and the total matching count."""
    where = _audit_conditions(f, zone)
    total = connection.execute(
        sa.select(sa.func.count()).select_from(AU).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(AU)
        .where(*where)
        .order_by(AU.c.at.desc(), AU.c.id.desc())
        .limit(PAGE_SIZE)
        .offset((f.page - 1) * PAGE_SIZE)
    ).mappings()
    return [dict(r) for r in rows], total


def audit_actions(connection: Connection) -> List[str]:
    """The actions the audit log holds (for the filter)."""
    return [
        a
        for (a,) in connection.execute(
            sa.select(AU.c.action).distinct().order_by(AU.c.action)
        )
    ]
