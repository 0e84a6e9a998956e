"""Intake requests for staff: the list, one request, its status, the CSV export.

Views, changes and exports are audited here. The export is for admins only and
neutralises cells a spreadsheet would run as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io

from bot.console.auth import SignedIn
from bot.db.engine import session_scope
from bot.db.models import INTAKE_STATUSES
from bot.db.queries import audit, intake
from bot.db.repository import get_intake

CSV_COLUMNS = (
    "id",
    "created_at",
    "status",
    "full_name",
    "phone_e164",
    "email",
    "condition",
    "best_time",
    "consent",
    "channel",
    "conversation_id",
    "notes",
)


# Cells a spreadsheet would run as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def list_page(engine, status: str, page: int):
    """One page of intake requests (of one status, or all) and the total."""
    with engine.begin() as connection:
        return intake.list_intakes(connection, status, page)


def view(engine, intake_id: int, email: str, ip):
    """One intake request in full; the view is audited."""
    with session_scope(engine) as session:
        intake = get_intake(session, intake_id)
        audit.record(session.connection(), email, "view", "intake", str(intake_id), ip)
        return intake


def update(engine, intake_id: int, status: str, notes: str, email: str, ip) -> None:
    """Changes a request's status and notes; audited."""
    with session_scope(engine) as session:
        intake = get_intake(session, intake_id)
        intake.status = status
        intake.notes = notes.replace("\x00", "").strip() or None
        audit.record(
            session.connection(), email, "update", "intake", str(intake_id), ip
        )


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def export_csv(engine, status: str, me: SignedIn, ip) -> str:
    """Every intake request (of one status) as CSV, safe for spreadsheets.

    Raises:
        PermissionError: `me` is not an admin (exports are for admins only).
    """
    if not me.is_admin:
        raise PermissionError("exports are for admins")
    status = status if status in INTAKE_STATUSES else ""
    with engine.begin() as connection:
        rows = intake.all_intakes(connection, status)
        audit.record(connection, me.email, "export", "intake", None, ip)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = []
        for column in CSV_COLUMNS:
            value = row[column]
            # E.164 numbers are validated: keep their "+" (not a formula).
            cells.append(str(value) if column == "phone_e164" else _cell(value))
        writer.writerow(cells)
    return out.getvalue()
