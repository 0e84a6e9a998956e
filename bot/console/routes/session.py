"""Sign-in (password, then the second factor), sign-out, and a password reset link.

A client address with too many recent failed sign-ins (`auth.Throttled`) gets a
429 page before any password is checked; the message is the same whether or not
the account exists. An account with a second factor gets a short `totp` session
after the right password, which opens only `/login/totp`; the right code there
replaces it with a full session (a new cookie value).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.console import auth
from bot.console.services import session as service
from bot.console.web import client_ip, form_value, render, safe_next
from bot.db.offloop import off_loop

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
CODE_FAILED = (
    "That code was not accepted (wrong, or already used: wait for the next one). "
    f"After {auth.MAX_FAILURES} failed attempts the account is locked for "
    f"{auth.LOCK_MINUTES} minutes."
)
RESET_FAILED = (
    "This reset link is not valid: it was used already, it expired, or a newer "
    "one replaced it. Ask an admin for a new one."
)


def set_cookie(
    resp: HTTPResponse, request: Request, name: str, value: str, age: int
) -> None:
    """Sets one of the console's cookies (HttpOnly, SameSite=Lax, Secure off local)."""
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["path"] = "/"
    cookie["max-age"] = age
    if request.app.ctx.settings.secure_cookies:
        cookie["secure"] = True


def _nonce(request: Request) -> str:
    # Keep the browser's nonce: a second tab (or the favicon request, redirected
    # here) must not invalidate the form already on screen.
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    return nonce if 20 <= len(nonce) <= 64 else secrets.token_urlsafe(24)


def _form_token_ok(request: Request) -> bool:
    """The signed double-submit token of the forms shown without a session."""
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    secret_key = request.app.ctx.settings.secret_key
    expected = auth.login_csrf_token(secret_key, nonce) if nonce else None
    return auth.tokens_match(expected, form_value(request, "csrf_token", 200))


def _public_form(
    request: Request, template: str, status: int = 200, **context
) -> HTTPResponse:
    nonce = _nonce(request)
    settings = request.app.ctx.settings
    resp = render(
        request,
        template,
        status=status,
        login_csrf=auth.login_csrf_token(settings.secret_key, nonce),
        **context,
    )
    set_cookie(resp, request, LOGIN_COOKIE, nonce, LOGIN_COOKIE_SECONDS)
    return resp


async def _login_page(
    request: Request, status: int = 200, error: str = "", info: str = ""
) -> HTTPResponse:
    no_accounts = await off_loop(service.no_accounts, request.app.ctx.engine)
    return _public_form(
        request,
        "login.html",
        status,
        next=safe_next(request.args.get("next") or form_value(request, "next", 2000)),
        error=error,
        info=info,
        no_accounts=no_accounts,
    )


@bp.get("/login")
async def login_form(request: Request) -> HTTPResponse:
    """The sign-in form."""
    if request.ctx.user is not None:
        return response.redirect(safe_next(request.args.get("next")), status=303)
    return await _login_page(request)


def _throttled_page(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Retry-After"] = str(auth.THROTTLE_MINUTES * 60)
    return resp


@bp.post("/login")
async def login(request: Request) -> HTTPResponse:
    """Checks the form's CSRF token and the password; opens a session."""
    settings = request.app.ctx.settings
    if not _form_token_ok(request):
        return await _login_page(
            request, 403, "The form expired. Please sign in again."
        )
    try:
        opened = await off_loop(
            service.sign_in,
            request.app.ctx.engine,
            settings,
            client_ip(request),
            form_value(request, "email", 300),
            form_value(request, "password", 1024),
        )
    except auth.Throttled:
        return _throttled_page(await _login_page(request, 429, THROTTLED))
    if opened is None:
        return await _login_page(request, 401, FAILED)
    token, stage = opened
    target = safe_next(form_value(request, "next", 2000))
    if stage == "totp":
        resp = response.redirect(
            "/login/totp?" + urlencode({"next": target}), status=303
        )
        set_cookie(resp, request, SESSION_COOKIE, token, auth.TOTP_PENDING_MINUTES * 60)
        return resp
    resp = response.redirect(target, status=303)
    set_cookie(resp, request, SESSION_COOKIE, token, settings.session_hours * 3600)
    del resp.cookies[LOGIN_COOKIE]
    return resp


async def _code_page(
    request: Request, status: int = 200, error: str = ""
) -> HTTPResponse:
    settings = request.app.ctx.settings
    csrf = await off_loop(
        service.pending_csrf,
        request.app.ctx.engine,
        settings.secret_key,
        request.cookies.get(SESSION_COOKIE, ""),
    )
    if csrf is None:  # no password step, or it expired: start again
        return response.redirect("/login", status=303)
    return render(
        request,
        "login_totp.html",
        status=status,
        pending_csrf=csrf,
        next=safe_next(request.args.get("next") or form_value(request, "next", 2000)),
        error=error,
    )


@bp.get("/login/totp")
async def code_form(request: Request) -> HTTPResponse:
    """The second step: the code from the authenticator app."""
    if request.ctx.user is not None:
        return response.redirect(safe_next(request.args.get("next")), status=303)
    return await _code_page(request)


@bp.post("/login/totp")
async def code(request: Request) -> HTTPResponse:
    """Checks the code; replaces the pending session with a full one."""
    settings = request.app.ctx.settings
    token = request.cookies.get(SESSION_COOKIE, "")
    csrf = await off_loop(
        service.pending_csrf, request.app.ctx.engine, settings.secret_key, token
    )
    if csrf is None:
        return response.redirect("/login", status=303)
    if not auth.tokens_match(csrf, form_value(request, "csrf_token", 200)):
        return await _code_page(request, 403, "The form expired. Please try again.")
    try:
        full = await off_loop(
            auth.check_second_factor,
            request.app.ctx.engine,
            settings.secret_key,
            token,
            form_value(request, "code", 20),
            client_ip(request),
            settings.session_hours,
        )
    except auth.Throttled:
        return _throttled_page(await _code_page(request, 429, THROTTLED))
    except auth.Locked:
        return await _login_page(request, 401, FAILED)
    except auth.SignInError:
        return await _code_page(request, 401, CODE_FAILED)
    resp = response.redirect(safe_next(form_value(request, "next", 2000)), status=303)
    set_cookie(resp, request, SESSION_COOKIE, full, settings.session_hours * 3600)
    del resp.cookies[LOGIN_COOKIE]
    return resp


@bp.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    """Ends the session (CSRF-checked like every POST)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    await off_loop(
        service.sign_out,
        request.app.ctx.engine,
        request.app.ctx.settings.secret_key,
        token,
    )
    resp = response.redirect("/login", status=303)
    del resp.cookies[SESSION_COOKIE]
    return resp


@bp.get("/reset")
async def reset_form(request: Request) -> HTTPResponse:
    """The form behind an admin-issued reset link: a new password."""
    token = (request.args.get("token") or "")[:128]
    return _public_form(request, "reset.html", token=token, error="")


@bp.post("/reset")
async def reset(request: Request) -> HTTPResponse:
    """Sets the new password with the link's one-time token."""
    token = form_value(request, "token", 128)
    if not _form_token_ok(request):
        return _public_form(
            request,
            "reset.html",
            403,
            token=token,
            error="The form expired. Please try again.",
        )
    new = form_value(request, "password", 1024)
    if new != form_value(request, "repeat", 1024):
        return _public_form(
            request, "reset.html", 400, token=token, error="The two passwords differ."
        )
    settings = request.app.ctx.settings
    try:
        await off_loop(
            auth.use_reset,
            request.app.ctx.engine,
            settings.secret_key,
            token,
            new,
            client_ip(request),
        )
    except auth.AccountError as error:
        return _public_form(
            request, "reset.html", 400, token=token, error=f"Not changed: {error}."
        )
    except auth.Throttled:
        return _throttled_page(
            _public_form(request, "reset.html", 429, token="", error=THROTTLED)
        )
    except auth.SignInError:
        return _public_form(request, "reset.html", 400, token="", error=RESET_FAILED)
    return await _login_page(
        request, info="Password changed. Sign in with the new password."
    )
