"""Intake requests: the call-back list, one request, status and notes, CSV export.

The export holds every caller's name, phone, email and condition, so it is a POST
(CSRF token, same-site `Origin`), for admins only, and audited: a link or a
top-level GET from another site cannot start a download.
"""

from __future__ import annotations

import csv
import io

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.engine import session_scope
from bot.db.models import INTAKE_STATUSES, InvalidValueError
from bot.db.offloop import off_loop
from bot.db.queries import audit, common, intake
from bot.db.repository import get_intake

bp = Blueprint("intake")
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


def _status_arg(request: Request) -> str:
    status = request.args.get("status", "")
    return status if status in INTAKE_STATUSES else ""


def _list(engine, status: str, page: int):
    with engine.begin() as connection:
        return intake.list_intakes(connection, status, page)


@bp.get("/intake")
async def intake_list(request: Request) -> HTTPResponse:
    """Intake requests, newest first, by status; contact details masked."""
    status = _status_arg(request)
    page = int_arg(request.args.get("page", "1")) or 1
    items, total = await off_loop(_list, request.app.ctx.engine, status, page)
    return render(
        request,
        "intake_list.html",
        items=items,
        total=total,
        current_status=status,
        statuses=INTAKE_STATUSES,
        page=page,
        pages=max(1, -(-total // common.PAGE_SIZE)),
    )


def _detail(engine, intake_id: int, email: str, ip):
    with session_scope(engine) as session:
        intake = get_intake(session, intake_id)
        audit.record(session.connection(), email, "view", "intake", str(intake_id), ip)
        return intake


@bp.get("/intake/view")
async def intake_detail(request: Request) -> HTTPResponse:
    """One intake request in full (the view is audited)."""
    intake_id = int_arg(request.args.get("id"))
    try:
        if intake_id is None:
            raise LookupError
        intake = await off_loop(
            _detail,
            request.app.ctx.engine,
            intake_id,
            current_user(request).email,
            client_ip(request),
        )
    except LookupError:
        return render(
            request, "error.html", status=404, message="No such intake request."
        )
    return render(
        request, "intake_detail.html", intake=intake, statuses=INTAKE_STATUSES
    )


def _update(engine, intake_id: int, status: str, notes: str, email: str, ip) -> None:
    with session_scope(engine) as session:
        intake = get_intake(session, intake_id)
        intake.status = status
        intake.notes = notes.replace("\x00", "").strip() or None
        audit.record(
            session.connection(), email, "update", "intake", str(intake_id), ip
        )


@bp.post("/intake/update")
async def intake_update(request: Request) -> HTTPResponse:
    """Changes a request's status (new, contacted, scheduled, closed) and notes."""
    intake_id = int_arg(form_value(request, "id", 20))
    notice = "intake"
    try:
        if intake_id is None:
            raise LookupError
        await off_loop(
            _update,
            request.app.ctx.engine,
            intake_id,
            form_value(request, "status", 16),
            form_value(request, "notes", 5000),
            current_user(request).email,
            client_ip(request),
        )
    except LookupError:
        return redirect_to("/intake", "error-missing")
    except (InvalidValueError, ValueError):
        notice = "error-invalid"
    return redirect_to("/intake/view", notice, id=str(intake_id))


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _csv(engine, status: str, email: str, ip) -> str:
    with engine.begin() as connection:
        rows = intake.all_intakes(connection, status)
        audit.record(connection, email, "export", "intake", None, ip)
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


@bp.post("/intake.csv")
async def intake_csv(request: Request) -> HTTPResponse:
    """Every intake request (of the chosen status) as CSV: admins, audited."""
    me = current_user(request)
    if not me.is_admin:
        return render(
            request, "error.html", status=403, message="Exports are for admins."
        )
    status = form_value(request, "status", 16)
    text = await off_loop(
        _csv,
        request.app.ctx.engine,
        status if status in INTAKE_STATUSES else "",
        me.email,
        client_ip(request),
    )
    return response.text(
        text,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="intake-requests.csv"'},
    )
