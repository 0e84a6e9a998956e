"""Answer analytics: every answer key's figures, and one key's "Not helpful" reasons."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.answers import period_arg
from bot.console.services import answers as service
from bot.console.web import client_ip, current_user, render
from bot.db.offloop import off_loop

bp = Blueprint("answers")


@bp.get("/answers")
async def answers(request: Request) -> HTTPResponse:
    """Per answer key: times given, helpful rate, a person right after; charts."""
    data = await off_loop(
        service.answers_page,
        request.app.ctx.engine,
        request.app.ctx.zone,
        period_arg(request.args.get("period")),
    )
    return render(request, "answers.html", **data)


@bp.get("/answers/view")
async def answer(request: Request) -> HTTPResponse:
    """One answer key: its figures and the newest "Not helpful" votes (audited)."""
    key = request.args.get("key", "")[:128]
    data = await off_loop(
        service.answer_detail,
        request.app.ctx.engine,
        request.app.ctx.zone,
        period_arg(request.args.get("period")),
        key,
        current_user(request).email,
        client_ip(request),
    )
    if data is None:
        return render(request, "error.html", status=404, message="No such answer key.")
    return render(request, "answer.html", **data)
