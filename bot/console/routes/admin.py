"""Admin pages: staff accounts (add, disable, enable) and the audit log. Admins only."""

from __future__ import annotations

from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import select

from bot.console import auth, privacy, queries
from bot.console.models import ROLES, ConsoleUser
from bot.console.web import (
    blocking,
    client_ip,
    current_user,
    form_value,
    int_arg,
    redirect_to,
    render,
)
from bot.db.engine import session_scope

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
            }
            for u in session.execute(
                select(ConsoleUser).order_by(ConsoleUser.email)
            ).scalars()
        ]


@bp.get("/users")
async def users(request: Request) -> HTTPResponse:
    """The accounts, and a form to add one."""
    items = await blocking(_users, request.app.ctx.engine)
    return render(request, "users.html", items=items, roles=ROLES, error="")


def _create(engine, email: str, password: str, role: str, admin: str, ip) -> None:
    with session_scope(engine) as session:
        user = auth.create_user(session, email, password, role)
        privacy.audit(session.connection(), admin, "create", "account", user.email, ip)


@bp.post("/users")
async def create(request: Request) -> HTTPResponse:
    """Adds an account (staff or admin)."""
    try:
        await blocking(
            _create,
            request.app.ctx.engine,
            form_value(request, "email", 300),
            form_value(request, "password", 1024),
            form_value(request, "role", 16),
            current_user(request).email,
            client_ip(request),
        )
    except auth.AccountError as error:
        items = await blocking(_users, request.app.ctx.engine)
        return render(
            request,
            "users.html",
            status=400,
            items=items,
            roles=ROLES,
            error=str(error),
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
        privacy.audit(session.connection(), admin, action, "account", user.email, ip)


@bp.post("/users/active")
async def set_active(request: Request) -> HTTPResponse:
    """Disables (signs out) or enables an account."""
    user_id = int_arg(form_value(request, "id", 20))
    me = current_user(request)
    try:
        if user_id is None:
            raise LookupError
        await blocking(
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


def _audit_log(engine, args, zone, admin: str, ip):
    f = queries.AuditFilter.from_args(args)
    with engine.begin() as connection:
        # Reading the log is itself logged (before the read: it shows on page 1).
        privacy.audit(connection, admin, "view", "audit log", None, ip)
        items, total = queries.list_audit(connection, f, zone)
        return {
            "filter": f,
            "items": items,
            "total": total,
            "pages": max(1, -(-total // queries.PAGE_SIZE)),
            "actions": queries.audit_actions(connection),
        }


@bp.get("/audit")
async def audit_log(request: Request) -> HTTPResponse:
    """The audit log, newest first; filters: staff email, action, date range."""
    args = {k: v[0] for k, v in request.args.items() if v}
    data = await blocking(
        _audit_log,
        request.app.ctx.engine,
        args,
        request.app.ctx.zone,
        current_user(request).email,
        client_ip(request),
    )
    return render(request, "audit.html", **data)
