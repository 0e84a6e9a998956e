"""Helpers every page handler uses: rendering, redirects, form values.

Database calls (SQLAlchemy, synchronous) and Rasa calls (`requests`) run in the
default thread pool through `bot.db.offloop.off_loop`, so one slow query or a Rasa
time-out never stalls the other staff members' pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Dict, Optional, TypeVar
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import privacy
from bot.console.auth import SignedIn

T = TypeVar("T")

# Fixed messages shown after a redirect (`?notice=<code>`): the page never echoes
# text taken from the URL.
NOTICES = {
    "reviewed": "Marked as reviewed.",
    "unreviewed": "Marked as not reviewed.",
    "note": "Note saved.",
    "tagged": "Tag added.",
    "untagged": "Tag removed.",
    "corrected": "Correction saved: it is in the YAML export.",
    "claimed": "You claimed the handoff.",
    "replied": "Reply sent to the patient.",
    "resumed": "The conversation is back with the bot; the handoff is closed.",
    "intake": "Intake request updated.",
    "user": "Account saved.",
    "model": "Active model changed: every Rasa worker loads it at its next pull.",
    "name": "Display name saved: patients see it on your replies.",
    "password": "Password changed. Your other sessions were signed out.",
    "totp": "Second factor on: sign-in asks for a code from now on.",
    "totp-reset": "Second factor turned off for that account; it was signed out.",
    "saved-reply": "Saved reply saved: staff can insert it into their replies.",
    "saved-reply-deleted": "Saved reply deleted.",
    "error-claimed": (
        "Another staff member claimed this handoff. To close it anyway, tick "
        "'I am taking over' and hand back again."
    ),
    "error-busy": (
        "Someone is replying to or closing this handoff right now. Reload the "
        "page in a moment: nothing was sent."
    ),
    "error-self": "Use your own Account page for that.",
    "error-taken": "Someone else holds this handoff, or it is closed.",
    "error-rasa": "The bot server could not be reached: nothing was sent. Try again.",
    "error-token": "The bot server refused the console's API token (RASA_API_TOKEN).",
    "error-invalid": "That was not accepted: check the text and try again.",
    "error-missing": "Not found: it may have been deleted.",
}


def build_templates(directory: str, zone: Any) -> Environment:
    """The Jinja environment: autoescape everywhere, masking and time filters."""
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def when(value: Any) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, (int, float)):
            moment = datetime.fromtimestamp(value, zone)
        else:
            moment = value.astimezone(zone)
        return moment.strftime("%Y-%m-%d %H:%M")

    env.filters.update(
        when=when,
        mask_phone=privacy.mask_phone,
        mask_email=privacy.mask_email,
        mask_id=privacy.mask_conversation_id,
        mask_text=privacy.mask_text,
        pct=lambda v: "" if v is None else f"{float(v):.0%}",
        conf=lambda v: "" if v is None else f"{float(v):.2f}",
    )
    env.globals["query"] = lambda args: urlencode(args)
    return env


def current_user(request: Request) -> SignedIn:
    """The signed-in staff member (the middleware guarantees one)."""
    return request.ctx.user


def client_ip(request: Request) -> Optional[str]:
    """The client's address, for the audit log."""
    return request.ip or None


def render(
    request: Request, template: str, status: int = 200, **context: Any
) -> HTTPResponse:
    """Renders a page with the common context (user, CSRF token, notice)."""
    user: Optional[SignedIn] = getattr(request.ctx, "user", None)
    notice = request.args.get("notice", "")
    base: Dict[str, Any] = {
        "user": user,
        "csrf": user.csrf_token if user else "",
        "notice": NOTICES.get(notice, ""),
        "notice_is_error": notice.startswith("error"),
        "path": request.path,
    }
    html = request.app.ctx.templates.get_template(template).render(**base, **context)
    return response.html(html, status=status)


def redirect_to(path: str, notice: str = "", **args: str) -> HTTPResponse:
    """A 303 redirect (after a POST) to a page of the console."""
    params = {**args, **({"notice": notice} if notice else {})}
    url = path + ("?" + urlencode(params) if params else "")
    return response.redirect(url, status=303)


def safe_next(value: Optional[str], default: str = "/") -> str:
    """A redirect target that stays on this site (no `//host`, no scheme)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(ch) < 32 for ch in value):
        return default
    return value


def form_value(request: Request, name: str, limit: int = 4000) -> str:
    """A form field's value ('' when missing), capped at `limit` characters."""
    value = request.form.get(name, "") if request.form else ""
    return str(value)[:limit]


def int_arg(value: Any) -> Optional[int]:
    """An id from a form or the query string, or None."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**31 else None
