"""Conversations: the list with filters, a transcript, review, tags, corrections."""

from __future__ import annotations

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.services import conversations as service
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.offloop import off_loop
from bot.db.queries import conversations
from bot.db.queries import corrections as labels

bp = Blueprint("conversations")


@bp.get("/conversations")
async def conversation_list(request: Request) -> HTTPResponse:
    """Conversations, newest first, filtered and searched."""
    args = {k: v[0] for k, v in request.args.items() if v}
    data = await off_loop(
        service.list_page, request.app.ctx.engine, args, request.app.ctx.zone
    )
    return render(request, "conversations.html", **data)


@bp.get("/conversations/view")
async def conversation_detail(request: Request) -> HTTPResponse:
    """One conversation: transcript, recognised labels, review, handoff."""
    conversation_id = request.args.get("id", "")[:255]
    user = current_user(request)
    data = await off_loop(
        service.view,
        request.app.ctx.engine,
        conversation_id,
        user.email,
        client_ip(request),
    )
    if data is None:
        return render(
            request, "error.html", status=404, message="No such conversation."
        )
    return render(
        request,
        "conversation.html",
        conversation_id=conversation_id,
        labels=labels.catalog_labels(),
        **data,
    )


async def _post(request: Request, action: str, notice: str, fn, *args) -> HTTPResponse:
    conversation_id = form_value(request, "id", 255)
    if not conversation_id:
        return redirect_to("/conversations", "error-missing")
    try:
        await off_loop(
            service.change,
            request.app.ctx.engine,
            action,
            conversation_id,
            current_user(request).email,
            client_ip(request),
            fn,
            *args,
        )
    except LookupError:
        notice = "error-missing"
    except ValueError:
        notice = "error-invalid"
    return redirect_to("/conversations/view", notice, id=conversation_id)


@bp.post("/conversations/review")
async def review(request: Request) -> HTTPResponse:
    """Marks the conversation reviewed (or not)."""
    status = form_value(request, "status", 16)
    email = current_user(request).email
    return await _post(
        request, "review", status, conversations.set_review, status, email
    )


@bp.post("/conversations/note")
async def note(request: Request) -> HTTPResponse:
    """Saves staff's note on the conversation."""
    text = form_value(request, "note", 5000)
    email = current_user(request).email
    return await _post(request, "note", "note", conversations.set_note, text, email)


@bp.post("/conversations/tag")
async def tag(request: Request) -> HTTPResponse:
    """Adds or removes a tag."""
    value = form_value(request, "tag", 100)
    if form_value(request, "remove", 10):
        return await _post(
            request, "untag", "untagged", conversations.remove_tag, value
        )
    email = current_user(request).email
    return await _post(request, "tag", "tagged", conversations.add_tag, value, email)


@bp.post("/conversations/correct")
async def correct(request: Request) -> HTTPResponse:
    """Records the right label of a wrongly recognised patient message."""
    event_id = int_arg(form_value(request, "event_id", 20))
    label = form_value(request, "label", 160)
    email = current_user(request).email
    if event_id is None:
        return redirect_to("/conversations", "error-missing")
    return await _post(
        request, "correct", "corrected", labels.correct_message, event_id, label, email
    )


@bp.get("/corrections")
async def corrections(request: Request) -> HTTPResponse:
    """Every correction, with the YAML export."""
    items = await off_loop(service.list_corrections, request.app.ctx.engine)
    return render(request, "corrections.html", items=items)


@bp.get("/corrections.yml")
async def corrections_yaml(request: Request) -> HTTPResponse:
    """The corrections as Rasa NLU YAML (a download)."""
    text = await off_loop(
        service.export_corrections,
        request.app.ctx.engine,
        current_user(request).email,
        client_ip(request),
    )
    return response.text(
        text,
        content_type="application/x-yaml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="corrections.yml"'},
    )
