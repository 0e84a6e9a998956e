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
from sqlalchemy import select

from bot.console import auth
from bot.console.web import (
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.engine import session_scope
from bot.db.models import ROLES, ConsoleUser, utcnow
from bot.db.offloop import off_loop
from bot.db.queries import audit, common

bp = Blueprint("admin", url_prefix="/admin")


@bp.middleware("request")
async def admins_only(request: Request):
    """Staff members get 403 on every admin page."""
    user = request.ctx.user
    if user is None or not user.is_admin:
        return render(request, "error.html", status=403, message="Admins only.")
    return None


def _users(engine):
    with session_scope(engine) as session:
        return [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "active": u.active,
                "locked_until": u.locked_until,
                "last_login_at": u.last_login_at,
                "display_name": u.display_name or "",
                "totp_enabled": u.totp_secret is not None,
                "reset_pending": u.reset_expires_at is not None
                and u.reset_expires_at > utcnow(),
            }
            for u in session.execute(
                select(ConsoleUser).order_by(ConsoleUser.email)
            ).scalars()
        ]


@bp.get("/users")
async def users(request: Request) -> HTTPResponse:
    """The accounts, and a form to add one."""
    items = await off_loop(_users, request.app.ctx.engine)
    return render(
        request, "users.html", items=items, roles=ROLES, error="", reset_link=""
    )


def _create(
    engine, email: str, password: str, role: str, name: str, admin: str, ip
) -> None:
    with session_scope(engine) as session:
        user = auth.create_user(session, email, password, role, name)
        audit.record(session.connection(), admin, "create", "account", user.email, ip)


@bp.post("/users")
async def create(request: Request) -> HTTPResponse:
    """Adds an account (staff or admin)."""
    try:
        await off_loop(
            _create,
            request.app.ctx.engine,
            form_value(request, "email", 300),
            form_value(request, "password", 1024),
            form_value(request, "role", 16),
            form_value(request, "display_name", 200),
            current_user(request).email,
            client_ip(request),
        )
    except auth.AccountError as error:
        items = await off_loop(_users, request.app.ctx.engine)
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


def _set_active(
    engine, user_id: int, active: bool, admin_id: int, admin: str, ip
) -> None:
    if user_id == admin_id and not active:
        raise auth.AccountError("you cannot disable your own account")
    with session_scope(engine) as session:
        user = auth.set_active(session, user_id, active)
        action = "enable" if active else "disable"
        audit.record(session.connection(), admin, action, "account", user.email, ip)


@bp.post("/users/active")
async def set_active(request: Request) -> HTTPResponse:
    """Disables (signs out) or enables an account."""
    user_id = int_arg(form_value(request, "id", 20))
    me = current_user(request)
    try:
        if user_id is None:
            raise LookupError
        await off_loop(
            _set_active,
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


def _issue_reset(engine, secret_key: str, user_id: int, admin_id: int, admin, ip):
    if user_id == admin_id:
        raise auth.AccountError("change your own password on your Account page")
    with session_scope(engine) as session:
        token = auth.issue_reset(session, secret_key, user_id)
        user = session.get(ConsoleUser, user_id)
        audit.record(
            session.connection(),
            admin,
            "password reset issued",
            "account",
            user.email,
            ip,
        )
        return token, user.email


@bp.post("/users/reset")
async def issue_reset(request: Request) -> HTTPResponse:
    """A one-time link to set a new password, shown once (not in a redirect)."""
    user_id = int_arg(form_value(request, "id", 20))
    me = current_user(request)
    try:
        if user_id is None:
            raise LookupError
        token, email = await off_loop(
            _issue_reset,
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
    items = await off_loop(_users, request.app.ctx.engine)
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


def _reset_totp(engine, user_id: int, admin_id: int, admin: str, ip) -> None:
    if user_id == admin_id:
        raise auth.AccountError("not your own second factor")
    with session_scope(engine) as session:
        user = auth.reset_totp(session, user_id)
        audit.record(
            session.connection(), admin, "totp reset", "account", user.email, ip
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
            _reset_totp,
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


def _audit_log(engine, args, zone, admin: str, ip):
    f = audit.AuditFilter.from_args(args)
    with engine.begin() as connection:
        # Reading the log is itself logged (before the read: it shows on page 1).
        audit.record(connection, admin, "view", "audit log", None, ip)
        items, total = audit.list_audit(connection, f, zone)
        return {
            "filter": f,
            "items": items,
            "total": total,
            "pages": max(1, -(-total // common.PAGE_SIZE)),
            "actions": audit.audit_actions(connection),
        }


@bp.get("/audit")
async def audit_log(request: Request) -> HTTPResponse:
    """The audit log, newest first; filters: staff email, action, date range."""
    args = {k: v[0] for k, v in request.args.items() if v}
    data = await off_loop(
        _audit_log,
        request.app.ctx.engine,
        args,
        request.app.ctx.zone,
        current_user(request).email,
        client_ip(request),
    )
    return render(request, "audit.html", **data)
