"""Staff's corrected labels of patient messages, and their export as NLU data."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Tuple

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from bot.db import events
from bot.db.models import MessageCorrection
from bot.settings import PROJECT_ROOT
from bot.vocabulary import FAQ

_correction = MessageCorrection.__table__


@lru_cache(maxsize=1)
def catalog_labels() -> Tuple[str, ...]:
    """The labels a message can be corrected to: `faq/<key>` and plain intents."""
    catalog = yaml.safe_load(
        (PROJECT_ROOT / "catalog" / "faq-catalog.yml").read_text(encoding="utf-8")
    )
    return tuple(
        [f"{FAQ}/{key}" for key in sorted(catalog["faq"])] + sorted(catalog["intents"])
    )


@lru_cache(maxsize=1)
def answer_keys() -> Tuple[str, ...]:
    """The catalog's FAQ answer keys."""
    prefix = f"{FAQ}/"
    return tuple(
        label[len(prefix) :] for label in catalog_labels() if label.startswith(prefix)
    )


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
    row = events.user_event(connection, conversation_id, event_id)
    if row is None:
        raise LookupError("no such patient message in this conversation")
    user = events.parse_user_event(row.data)
    predicted = (
        f"{FAQ}/{user['answer_key']}"
        if user["intent"] == FAQ and user["answer_key"]
        else user["intent"]
    )
    connection.execute(sa.delete(_correction).where(_correction.c.event_id == event_id))
    connection.execute(
        sa.insert(_correction).values(
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
        for row in connection.execute(
            sa.select(_correction).order_by(_correction.c.id.desc())
        ).mappings()
    ]


def corrections_yaml(connection: Connection) -> str:
    """The corrections as Rasa NLU training data (YAML), ready for `data/nlu/`."""
    by_label: Dict[str, List[str]] = {}
    for row in connection.execute(
        sa.select(_correction.c.corrected, _correction.c.text).order_by(
            _correction.c.id
        )
    ):
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
