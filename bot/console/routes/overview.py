"""The morning page: what happened overnight, what is urgent, the trends."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import overview as figures
from bot.console.web import render
from bot.db import summaries
from bot.db.offloop import off_loop

bp = Blueprint("overview")


def _overview(engine, zone):
    summaries.refresh(engine, wait=False)  # another request may be refreshing
    with engine.begin() as connection:
        return figures.overview(connection, zone)


@bp.get("/")
async def overview(request: Request) -> HTTPResponse:
    """Counts and charts for the last 30 days."""
    data = await off_loop(_overview, request.app.ctx.engine, request.app.ctx.zone)
    return render(request, "overview.html", **data)
