"""Intake requests: the call-back list, one request, status and notes, CSV export.

The export holds every caller's name, phone, email and condition, so it is a POST
(CSRF token, same-site `Origin`), for admins only, and audited: a link or a
top-level GET from another site cannot start a download.
"""

from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.services import intake as service
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.models import INTAKE_STATUSES, InvalidValueError
from bot.db.offloop import off_loop
from bot.db.queries import common

bp = Blueprint("intake")


def _status_arg(request: Request) -> str:
    status = request.args.get("status", "")
    return status if status in INTAKE_STATUSES else ""


@bp.get("/intake")
async def intake_list(request: Request) -> HTTPResponse:
    """Intake requests, newest first, by status; contact details masked."""
    status = _status_arg(request)
    page = int_arg(request.args.get("page", "1")) or 1
    items, total = await off_loop(
        service.list_page, request.app.ctx.engine, status, page
    )
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


@bp.get("/intake/view")
async def intake_detail(request: Request) -> HTTPResponse:
    """One intake request in full (the view is audited)."""
    intake_id = int_arg(request.args.get("id"))
    try:
        if intake_id is None:
            raise LookupError
        intake = await off_loop(
            service.view,
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


@bp.post("/intake/update")
async def intake_update(request: Request) -> HTTPResponse:
    """Changes a request's status (new, contacted, scheduled, closed) and notes."""
    intake_id = int_arg(form_value(request, "id", 20))
    notice = "intake"
    try:
        if intake_id is None:
            raise LookupError
        await off_loop(
            service.update,
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


@bp.post("/intake.csv")
async def intake_csv(request: Request) -> HTTPResponse:
    """Every intake request (of the chosen status) as CSV: admins, audited."""
    try:
        text = await off_loop(
            service.export_csv,
            request.app.ctx.engine,
            form_value(request, "status", 16),
            current_user(request),
            client_ip(request),
        )
    except PermissionError:
        return render(
            request, "error.html", status=403, message="Exports are for admins."
        )
    return response.text(
        text,
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="intake-requests.csv"'},
    )
