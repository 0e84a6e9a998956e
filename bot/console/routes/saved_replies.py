"""Saved replies, kept by admins: add, change, delete. Admins only.

Staff use them on a conversation's reply form (`conversation.html`): a choice of
saved replies and an Insert button put the text into the reply, to be edited
before sending.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console.routes.admin import admins_only
from bot.console.services import saved_replies as service
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.offloop import off_loop
from bot.db.queries.saved_replies import BODY_LENGTH, TITLE_LENGTH, SavedReplyError

bp = Blueprint("saved_replies", url_prefix="/admin/replies")
bp.middleware(admins_only, "request")


async def _page(
    request: Request, status: int = 200, error: str = "", draft: Optional[Dict] = None
) -> HTTPResponse:
    items = await off_loop(service.list_replies, request.app.ctx.engine)
    return render(
        request,
        "saved_replies.html",
        status=status,
        items=items,
        error=error,
        draft=draft or {"id": None, "title": "", "body": ""},
        title_length=TITLE_LENGTH,
        body_length=BODY_LENGTH,
    )


@bp.get("")
async def saved_replies(request: Request) -> HTTPResponse:
    """The saved replies, each editable, and a form to add one."""
    return await _page(request)


@bp.post("")
async def save(request: Request) -> HTTPResponse:
    """Adds a saved reply (no `id`) or changes one (`id`)."""
    raw_id = form_value(request, "id", 20)
    reply_id = int_arg(raw_id) if raw_id else None
    if raw_id and reply_id is None:
        return redirect_to("/admin/replies", "error-missing")
    # A little over the limits, so "too long" is said rather than cut silently.
    title = form_value(request, "title", TITLE_LENGTH * 4)
    body = form_value(request, "body", BODY_LENGTH * 2)
    try:
        await off_loop(
            service.save_reply,
            request.app.ctx.engine,
            reply_id,
            title,
            body,
            current_user(request).email,
            client_ip(request),
        )
    except SavedReplyError as error:
        draft: Dict[str, Any] = {"id": reply_id, "title": title, "body": body}
        return await _page(request, status=400, error=str(error), draft=draft)
    except LookupError:
        return redirect_to("/admin/replies", "error-missing")
    return redirect_to("/admin/replies", "saved-reply")


@bp.post("/delete")
async def delete(request: Request) -> HTTPResponse:
    """Deletes a saved reply."""
    reply_id = int_arg(form_value(request, "id", 20))
    try:
        if reply_id is None:
            raise LookupError
        await off_loop(
            service.delete_reply,
            request.app.ctx.engine,
            reply_id,
            current_user(request).email,
            client_ip(request),
        )
    except LookupError:
        return redirect_to("/admin/replies", "error-missing")
    return redirect_to("/admin/replies", "saved-reply-deleted")
