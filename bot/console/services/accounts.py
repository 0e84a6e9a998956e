"""The admins' rules for staff accounts, and the audit log page.

An admin cannot disable their own account, issue their own reset link or turn
off their own second factor (their Account page is for that); each change is
audited, and reading the audit log is itself audited.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.console import auth
from bot.db.engine import session_scope
from bot.db.models import ConsoleUser, utcnow
from bot.db.queries import accounts, audit, common


def list_accounts(engine):
    """Every staff account, for the admin page (no hashes, no secrets)."""
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
            for u in accounts.all_accounts(session)
        ]


def create_account(
    engine, email: str, password: str, role: str, name: str, admin: str, ip
) -> None:
    """Adds an account and audits it."""
    with session_scope(engine) as session:
        user = auth.create_user(session, email, password, role, name)
        audit.record(session.connection(), admin, "create", "account", user.email, ip)


def set_active(
    engine, user_id: int, active: bool, admin_id: int, admin: str, ip
) -> None:
    """Disables (signs out) or enables an account; never the admin's own."""
    if user_id == admin_id and not active:
        raise auth.AccountError("you cannot disable your own account")
    with session_scope(engine) as session:
        user = auth.set_active(session, user_id, active)
        action = "enable" if active else "disable"
        audit.record(session.connection(), admin, action, "account", user.email, ip)


def issue_reset(engine, secret_key: str, user_id: int, admin_id: int, admin, ip):
    """A one-time password reset token for another account; audited."""
    if user_id == admin_id:
        raise auth.AccountError("change your own password on your Account page")
    with session_scope(engine) as session:
        token = auth.issue_reset(session, secret_key, user_id)
        user = accounts.account(session, user_id)
        assert user is not None  # auth.issue_reset raised LookupError otherwise
        audit.record(
            session.connection(),
            admin,
            "password reset issued",
            "account",
            user.email,
            ip,
        )
        return token, user.email


def reset_totp(engine, user_id: int, admin_id: int, admin: str, ip) -> None:
    """Turns off another account's second factor (lost phone); audited."""
    if user_id == admin_id:
        raise auth.AccountError("not your own second factor")
    with session_scope(engine) as session:
        user = auth.reset_totp(session, user_id)
        audit.record(
            session.connection(), admin, "totp reset", "account", user.email, ip
        )


def audit_log_page(engine, args, zone, admin: str, ip):
    """One page of the audit log; the read itself is audited first."""
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


def _operator_target(session: Session, email: str) -> ConsoleUser:
    user = accounts.account_by_email(session, auth.normalise_email(email))
    if user is None:
        raise auth.AccountError("no account with this email")
    return user


def set_password_by_operator(engine, email: str, password: str) -> str:
    """The command line's `users set-password`: a new password, signed out, audited.

    For whoever runs the server when no admin can sign in. Clears the lockout
    and any pending reset link.

    Returns:
        The audit action written.

    Raises:
        auth.AccountError: no such account, or the password is too short.
    """
    with session_scope(engine) as session:
        user = _operator_target(session, email)
        user.password_hash = auth.hash_password(password)
        user.password_changed_at = utcnow()
        user.failed_logins = 0
        user.locked_until = None
        user.reset_token_hash = None
        user.reset_expires_at = None
        accounts.end_sessions(session, user.id)
        action = "password set (command line)"
        audit.record(session.connection(), None, action, "account", user.email)
    return action


def reset_totp_by_operator(engine, email: str) -> str:
    """The command line's `users reset-totp` (lost phone): signed out, audited.

    Returns:
        The audit action written.

    Raises:
        auth.AccountError: no such account.
    """
    with session_scope(engine) as session:
        user = _operator_target(session, email)
        auth.reset_totp(session, user.id)
        action = "totp reset (command line)"
        audit.record(session.connection(), None, action, "account", user.email)
    return action
