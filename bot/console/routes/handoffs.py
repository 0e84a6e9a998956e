"""The handoff queue: urgent first; claim, reply through the patient's channel, resume.

Replies and the return to the bot go through `bot.handoff.desk`, which
runs them one at a time per handoff and calls `bot.handoff.HandoffService`
(Rasa's HTTP API), so a reply reaches the patient on their channel (widget,
SMS), signed with the staff member's display name. Closing a handoff someone
else claimed needs the form's "I am taking over" box. `/handoffs.json` feeds the
page's own script, which refreshes the queue and the menu's counter every few
seconds. Each handoff shows how long the patient has waited (until staff's first
reply), the time to claim and to first reply, and "Over target" past
`HANDOFF_TARGET_MINUTES` without a reply.
"""

from __future__ import annotations

from typing import Callable

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import privacy
from bot.console.services import handoffs as service
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
    safe_next,
)
from bot.db.offloop import off_loop
from bot.db.repository import HandoffStateError
from bot.handoff import MAX_REPLY_LENGTH, RasaUnavailable
from bot.handoff import desk as handoff_desk

bp = Blueprint("handoffs")
TIMING_KEYS = (
    "waiting_seconds",
    "to_claim_seconds",
    "to_first_reply_seconds",
    "over_target",
    "waiting",
    "to_claim",
    "to_first_reply",
    "waiting_notice",
)


async def _queue(request: Request) -> list:
    ctx = request.app.ctx
    return await off_loop(
        service.queue, ctx.engine, ctx.settings.handoff_target_minutes
    )


@bp.get("/handoffs")
async def queue(request: Request) -> HTTPResponse:
    """Open and claimed handoffs, urgent (crisis) first, then the oldest."""
    items = await _queue(request)
    target = request.app.ctx.settings.handoff_target_minutes
    times = await off_loop(service.medians, request.app.ctx.engine)
    return render(
        request, "handoffs.html", items=items, target_minutes=target, medians=times
    )


@bp.get("/handoffs.json")
async def queue_json(request: Request) -> HTTPResponse:
    """The queue for the page's script, with patient data masked.

    The times are in seconds (`waiting_seconds` until staff's first reply, then
    null; `to_claim_seconds`, `to_first_reply_seconds`: null until then) and as
    text; `over_target` marks a handoff still without a reply past the target.
    """
    items = await _queue(request)
    when = request.app.ctx.templates.filters["when"]
    return response.json(
        {
            "open": sum(1 for h in items if h["status"] == "open"),
            "urgent": sum(1 for h in items if h["urgent"]),
            "over_target": sum(1 for h in items if h["over_target"]),
            "target_minutes": request.app.ctx.settings.handoff_target_minutes,
            "items": [
                {
                    "id": h["id"],
                    "conversation": privacy.mask_conversation_id(h["conversation_id"]),
                    "conversation_id": h["conversation_id"],
                    "channel": h["channel"],
                    "reason": h["reason"],
                    "status": h["status"],
                    "urgent": h["urgent"],
                    "summary": privacy.mask_text(h["summary"]),
                    "created_at": when(h["created_at"]),
                    "claimed_by": h["claimed_by"] or "",
                    **{key: h[key] for key in TIMING_KEYS},
                }
                for h in items
            ],
        }
    )


def _back(request: Request) -> str:
    return safe_next(form_value(request, "next", 2000), "/handoffs")


def _with_notice(target: str, notice: str) -> HTTPResponse:
    separator = "&" if "?" in target else "?"
    return response.redirect(f"{target}{separator}notice={notice}", status=303)


async def _act(
    request: Request, notice: str, action: Callable[..., None]
) -> HTTPResponse:
    """Runs `action(handoff_id, me, ip)` off the loop; redirects with its outcome."""
    handoff_id = int_arg(form_value(request, "handoff_id", 20))
    if handoff_id is None:
        return redirect_to("/handoffs", "error-missing")
    try:
        await off_loop(action, handoff_id, current_user(request), client_ip(request))
    except LookupError:
        notice = "error-missing"
    except handoff_desk.ClaimedByOther:
        notice = "error-claimed"
    except handoff_desk.HandoffBusy:
        notice = "error-busy"
    except HandoffStateError:
        notice = "error-taken"
    except PermissionError:
        notice = "error-token"
    except RasaUnavailable:
        notice = "error-rasa"
    except ValueError:  # the reply text, or a request Rasa refused (RasaError)
        notice = "error-invalid"
    except RuntimeError:  # RasaError
        notice = "error-invalid"
    return _with_notice(_back(request), notice)


@bp.post("/handoffs/claim")
async def claim(request: Request) -> HTTPResponse:
    """Takes an open handoff."""
    engine = request.app.ctx.engine
    return await _act(
        request,
        "claimed",
        lambda handoff_id, me, ip: service.claim(engine, handoff_id, me, ip),
    )


@bp.post("/handoffs/reply")
async def reply(request: Request) -> HTTPResponse:
    """Sends staff's reply to the patient (claims the handoff, pauses the bot)."""
    ctx = request.app.ctx
    text = form_value(request, "text", MAX_REPLY_LENGTH + 100)
    return await _act(
        request,
        "replied",
        lambda handoff_id, me, ip: service.reply(
            ctx.handoffs, ctx.engine, handoff_id, text, me, ip
        ),
    )


@bp.post("/handoffs/resume")
async def resume(request: Request) -> HTTPResponse:
    """Hands the conversation back to the bot and closes the handoff."""
    ctx = request.app.ctx
    takeover = form_value(request, "takeover", 5) == "1"
    return await _act(
        request,
        "resumed",
        lambda handoff_id, me, ip: service.resume(
            ctx.handoffs, ctx.engine, handoff_id, me, takeover, ip
        ),
    )
