"""The morning page: what happened overnight, what is urgent, the trends."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.services import overview as service
from bot.console.web import render
from bot.db.offloop import off_loop

bp = Blueprint("overview")


@bp.get("/")
async def overview(request: Request) -> HTTPResponse:
    """Counts and charts for the last 30 days."""
    data = await off_loop(
        service.overview_page, request.app.ctx.engine, request.app.ctx.zone
    )
    return render(request, "overview.html", **data)
