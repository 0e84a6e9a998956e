"""The signed-in staff member's own account: display name, password, second factor.

- The display name is what patients see on a staff reply ("Dana, clinic staff"),
  never the sign-in email.
- Changing the password needs the current one (checked like a sign-in: it takes
  one of the account's tries) and ends the account's other sessions.
- The second factor (TOTP): the secret is shown as text and as an `otpauth://`
  link for the authenticator app; the first right code turns it on and ends the
  account's other sessions. Admins must have one: until then this is the only
  page they can open (see `bot.console.app`).
"""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import auth
from bot.console.services import own_account as service
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    redirect_to,
    render,
)
from bot.db.offloop import off_loop

bp = Blueprint("account")


async def _page(request: Request, status: int = 200, error: str = "") -> HTTPResponse:
    me = current_user(request)
    account = await off_loop(service.details, request.app.ctx.engine, me.user_id)
    return render(request, "account.html", status=status, account=account, error=error)


@bp.get("/account")
async def account(request: Request) -> HTTPResponse:
    """The account page."""
    return await _page(request)


@bp.post("/account/name")
async def set_name(request: Request) -> HTTPResponse:
    """Sets the display name patients see."""
    try:
        await off_loop(
            service.set_name,
            request.app.ctx.engine,
            current_user(request),
            form_value(request, "display_name", 200),
            client_ip(request),
        )
    except auth.AccountError as error:
        return await _page(request, 400, f"Not saved: {error}.")
    return redirect_to("/account", "name")


@bp.post("/account/password")
async def change_password(request: Request) -> HTTPResponse:
    """Changes the password (the current one first); ends the other sessions."""
    new = form_value(request, "new_password", 1024)
    if new != form_value(request, "repeat", 1024):
        return await _page(request, 400, "Not changed: the two new passwords differ.")
    try:
        await off_loop(
            auth.change_password,
            request.app.ctx.engine,
            current_user(request),
            form_value(request, "current_password", 1024),
            new,
            client_ip(request),
        )
    except auth.AccountError as error:
        return await _page(request, 400, f"Not changed: {error}.")
    except auth.Throttled:
        return await _page(
            request, 429, "Not changed: too many failed attempts from your network."
        )
    except auth.Locked:
        return await _page(
            request,
            401,
            f"Not changed: too many wrong passwords; try again in "
            f"{auth.LOCK_MINUTES} minutes.",
        )
    except auth.SignInError:
        return await _page(request, 401, "Not changed: the current password is wrong.")
    return redirect_to("/account", "password")


async def _totp_page(
    request: Request, status: int = 200, error: str = ""
) -> HTTPResponse:
    me = current_user(request)
    setup = None
    if not me.totp_enabled:
        setup = await off_loop(
            service.totp_setup,
            request.app.ctx.engine,
            request.app.ctx.settings.secret_key,
            me,
        )
    return render(
        request,
        "account_totp.html",
        status=status,
        setup=setup,
        required=me.needs_totp_setup,
        error=error,
    )


@bp.get("/account/totp")
async def totp(request: Request) -> HTTPResponse:
    """Setting up the second factor (or its state, once it is on)."""
    return await _totp_page(request)


@bp.post("/account/totp")
async def confirm_totp(request: Request) -> HTTPResponse:
    """Turns the second factor on with the app's first code."""
    try:
        await off_loop(
            service.confirm_totp,
            request.app.ctx.engine,
            request.app.ctx.settings.secret_key,
            current_user(request),
            form_value(request, "code", 20),
            client_ip(request),
        )
    except auth.AccountError as error:
        return await _totp_page(request, 400, f"Not turned on: {error}.")
    return redirect_to("/", "totp")
