"""Sign-in and sign-out.

A client address with too many recent failed sign-ins (`auth.throttled`) gets a
429 page before any password is checked; the message is the same whether or not
the account exists.
"""

from __future__ import annotations

import secrets

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import auth, privacy
from bot.console.web import blocking, client_ip, form_value, render, safe_next
from bot.db.engine import session_scope

bp = Blueprint("session")
LOGIN_COOKIE = "console_login"
SESSION_COOKIE = "console_session"
LOGIN_COOKIE_SECONDS = 3600
FAILED = (
    "Sign-in failed: wrong email or password, or the account is disabled. After "
    f"{auth.MAX_FAILURES} failed attempts an account is locked for "
    f"{auth.LOCK_MINUTES} minutes."
)
THROTTLED = (
    "Too many failed sign-ins from your network. Wait "
    f"{auth.THROTTLE_MINUTES} minutes, then try again."
)


def _cookie(
    resp: HTTPResponse, request: Request, name: str, value: str, age: int
) -> None:
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["path"] = "/"
    cookie["max-age"] = age
    if request.app.ctx.settings.secure_cookies:
        cookie["secure"] = True


def _no_accounts(engine) -> bool:
    with session_scope(engine) as session:
        return auth.count_users(session) == 0


async def _login_page(
    request: Request, status: int = 200, error: str = ""
) -> HTTPResponse:
    no_accounts = await blocking(_no_accounts, request.app.ctx.engine)
    # Keep the browser's nonce: a second tab (or the favicon request, redirected
    # here) must not invalidate the form already on screen.
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not 20 <= len(nonce) <= 64:
        nonce = secrets.token_urlsafe(24)
    settings = request.app.ctx.settings
    resp = render(
        request,
        "login.html",
        status=status,
        login_csrf=auth.login_csrf_token(settings.secret_key, nonce),
        next=safe_next(request.args.get("next") or form_value(request, "next", 2000)),
        error=error,
        no_accounts=no_accounts,
    )
    _cookie(resp, request, LOGIN_COOKIE, nonce, LOGIN_COOKIE_SECONDS)
    return resp


@bp.get("/login")
async def login_form(request: Request) -> HTTPResponse:
    """The sign-in form."""
    if request.ctx.user is not None:
        return response.redirect(safe_next(request.args.get("next")), status=303)
    return await _login_page(request)


def _sign_in(request: Request, email: str, password: str):
    """The new session's cookie value, or None.

    Raises:
        auth.Throttled: too many failures from the client's address lately.
    """
    settings = request.app.ctx.settings
    with session_scope(request.app.ctx.engine) as session:
        if auth.throttled(session, client_ip(request)):
            raise auth.Throttled("too many failures from this address")
        try:
            user = auth.authenticate(session, email, password)
        except auth.SignInError:
            user = None
    with session_scope(request.app.ctx.engine) as session:
        if user is None:
            connection = session.connection()
            privacy.audit(
                connection,
                None,
                auth.SIGN_IN_FAILED,
                "account",
                None,
                client_ip(request),
            )
            return None
        token = auth.start_session(
            session, user, settings.secret_key, settings.session_hours
        )
        privacy.audit(
            session.connection(),
            user.email,
            "sign-in",
            "account",
            None,
            client_ip(request),
        )
        return token


@bp.post("/login")
async def login(request: Request) -> HTTPResponse:
    """Checks the form's CSRF token and the password; opens a session."""
    settings = request.app.ctx.settings
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = auth.login_csrf_token(settings.secret_key, nonce) if nonce else None
    if not auth.tokens_match(expected, form_value(request, "csrf_token", 200)):
        return await _login_page(
            request, 403, "The form expired. Please sign in again."
        )
    try:
        token = await blocking(
            _sign_in,
            request,
            form_value(request, "email", 300),
            form_value(request, "password", 1024),
        )
    except auth.Throttled:
        resp = await _login_page(request, 429, THROTTLED)
        resp.headers["Retry-After"] = str(auth.THROTTLE_MINUTES * 60)
        return resp
    if token is None:
        return await _login_page(request, 401, FAILED)
    resp = response.redirect(safe_next(form_value(request, "next", 2000)), status=303)
    _cookie(resp, request, SESSION_COOKIE, token, settings.session_hours * 3600)
    del resp.cookies[LOGIN_COOKIE]
    return resp


def _sign_out(engine, secret_key: str, token: str) -> None:
    with session_scope(engine) as session:
        auth.end_session(session, secret_key, token)


@bp.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    """Ends the session (CSRF-checked like every POST)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    await blocking(
        _sign_out, request.app.ctx.engine, request.app.ctx.settings.secret_key, token
    )
    resp = response.redirect("/login", status=303)
    del resp.cookies[SESSION_COOKIE]
    return resp
