"""Admin pages: staff accounts and the audit log. Admins only.

Accounts: add (with the display name patients see), disable or enable, issue a
one-time password reset link (shown once, valid `auth.RESET_HOURS`), turn off a
lost second factor (the account is signed out; an admin sets a new one up at
the next sign-in). An admin changes their own password on their Account page.
"""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import auth
from bot.console.services import accounts as service
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.models import ROLES
from bot.db.offloop import off_loop

bp = Blueprint("admin", url_prefix="/admin")


@bp.middleware("request")
async def admins_only(request: Request):
    """Staff members get 403 on every admin page."""
    user = request.ctx.user
    if user is None or not user.is_admin:
        return render(request, "error.html", status=403, message="Admins only.")
    return None


@bp.get("/users")
async def users(request: Request) -> HTTPResponse:
    """The accounts, and a form to add one."""
    items = await off_loop(service.list_accounts, request.app.ctx.engine)
    return render(
        request, "users.html", items=items, roles=ROLES, error="", reset_link=""
    )


@bp.post("/users")
async def create(request: Request) -> HTTPResponse:
    """Adds an account (staff or admin)."""
    try:
        await off_loop(
            service.create_account,
            request.app.ctx.engine,
            form_value(request, "email", 300),
            form_value(request, "password", 1024),
            form_value(request, "role", 16),
            form_value(request, "display_name", 200),
            current_user(request).email,
            client_ip(request),
        )
    except auth.AccountError as error:
        items = await off_loop(service.list_accounts, request.app.ctx.engine)
        return render(
            request,
            "users.html",
            status=400,
            items=items,
            roles=ROLES,
            error=str(error),
            reset_link="",
        )
    return redirect_to("/admin/users", "user")


@bp.post("/users/active")
async def set_active(request: Request) -> HTTPResponse:
    """Disables (signs out) or enables an account."""
    user_id = int_arg(form_value(request, "id", 20))
    me = current_user(request)
    try:
        if user_id is None:
            raise LookupError
        await off_loop(
            service.set_active,
            request.app.ctx.engine,
            user_id,
            form_value(request, "active", 5) == "1",
            me.user_id,
            me.email,
            client_ip(request),
        )
    except LookupError:
        return redirect_to("/admin/users", "error-missing")
    except auth.AccountError:
        return redirect_to("/admin/users", "error-invalid")
    return redirect_to("/admin/users", "user")


@bp.post("/users/reset")
async def issue_reset(request: Request) -> HTTPResponse:
    """A one-time link to set a new password, shown once (not in a redirect)."""
    user_id = int_arg(form_value(request, "id", 20))
    me = current_user(request)
    try:
        if user_id is None:
            raise LookupError
        token, email = await off_loop(
            service.issue_reset,
            request.app.ctx.engine,
            request.app.ctx.settings.secret_key,
            user_id,
            me.user_id,
            me.email,
            client_ip(request),
        )
    except LookupError:
        return redirect_to("/admin/users", "error-missing")
    except auth.AccountError:
        return redirect_to("/admin/users", "error-self")
    items = await off_loop(service.list_accounts, request.app.ctx.engine)
    link = f"{request.scheme}://{request.host}/reset?token={token}"
    return render(
        request,
        "users.html",
        items=items,
        roles=ROLES,
        error="",
        reset_link=link,
        reset_email=email,
        reset_hours=auth.RESET_HOURS,
    )


@bp.post("/users/totp-reset")
async def reset_totp(request: Request) -> HTTPResponse:
    """Turns off an account's second factor (lost phone); signs it out."""
    user_id = int_arg(form_value(request, "id", 20))
    me = current_user(request)
    try:
        if user_id is None:
            raise LookupError
        await off_loop(
            service.reset_totp,
            request.app.ctx.engine,
            user_id,
            me.user_id,
            me.email,
            client_ip(request),
        )
    except LookupError:
        return redirect_to("/admin/users", "error-missing")
    except auth.AccountError:
        return redirect_to("/admin/users", "error-self")
    return redirect_to("/admin/users", "totp-reset")


@bp.get("/audit")
async def audit_log(request: Request) -> HTTPResponse:
    """The audit log, newest first; filters: staff email, action, date range."""
    args = {k: v[0] for k, v in request.args.items() if v}
    data = await off_loop(
        service.audit_log_page,
        request.app.ctx.engine,
        args,
        request.app.ctx.zone,
        current_user(request).email,
        client_ip(request),
    )
    return render(request, "audit.html", **data)
