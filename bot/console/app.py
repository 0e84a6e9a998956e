"""The console's Sanic app: sign-in wall, CSRF check, security headers, routes.

Every request passes `authenticate` first: without a valid session cookie any page
redirects to `/login` (JSON endpoints answer 401), and every POST must carry the
session's CSRF token (form field `csrf_token` or header `X-CSRF-Token`) and, when
the browser sends one, an `Origin` of this site. Only `/login` (and its second
step `/login/totp`, which checks the pending session itself), `/reset` (an
admin-issued link), `/static/…` and `/healthz` are public. An admin without a
second factor can open nothing but `/account/totp` (and sign out) until it is
set up. A session ends after `CONSOLE_IDLE_MINUTES` without a request; requests
to `*.json` (the handoff queue's polling) do not count.

Every response gets a strict Content-Security-Policy (scripts and styles only
from `/static`, no inline code), `X-Frame-Options: DENY`, `nosniff`,
`Referrer-Policy: same-origin`, and pages are not cached.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.engine import Engine

from bot.console import auth
from bot.console.routes.session import SESSION_COOKIE
from bot.console.services import session as session_service
from bot.console.web import build_templates, render
from bot.db import summaries
from bot.db.offloop import off_loop
from bot.settings.console import ConsoleSettings

HERE = Path(__file__).resolve().parent
PUBLIC_PREFIXES = ("/static/",)
# /model/active checks its own bearer token (the Rasa workers have no session).
PUBLIC_PATHS = (
    "/login",
    "/login/totp",
    "/reset",
    "/healthz",
    "/favicon.ico",
    "/model/active",
)
# All an admin without a second factor may do until it is set up.
SETUP_PATHS = ("/account/totp", "/logout")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes Chromium send Origin: null
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser, or an old one: the CSRF token still applies
    return origin != "null" and urlsplit(origin).netloc == request.host


async def authenticate(request: Request):
    """Loads the session; refuses anonymous requests and POSTs without CSRF."""
    request.ctx.user = None
    token = request.cookies.get(SESSION_COOKIE)
    app = request.app
    if token:
        request.ctx.user = await off_loop(
            session_service.load_session,
            app.ctx.engine,
            app.ctx.settings,
            token,
            # Background polling (the handoff queue's JSON) is not activity:
            # an unattended tab must not keep the session alive.
            not request.path.endswith(".json"),
        )
    if request.method == "POST" and not _same_origin(request):
        return response.text("Cross-site request refused.", status=403)
    if _is_public(request.path):
        return None
    if request.ctx.user is None:
        if request.path.endswith(".json"):
            return response.json({"error": "sign in first"}, status=401)
        target = request.path + (
            f"?{request.query_string}" if request.query_string else ""
        )
        return response.redirect("/login?" + urlencode({"next": target}), status=303)
    if request.ctx.user.needs_totp_setup and request.path not in SETUP_PATHS:
        if request.path.endswith(".json"):
            return response.json({"error": "set up the second factor"}, status=403)
        return response.redirect("/account/totp", status=303)
    if request.method not in ("GET", "HEAD"):
        given = request.headers.get("x-csrf-token") or (
            request.form.get("csrf_token") if request.form else None
        )
        if not auth.tokens_match(request.ctx.user.csrf_token, given):
            return render(
                request,
                "error.html",
                status=403,
                message=(
                    "This form has expired or did not come from the console. "
                    "Go back, reload the page and try again."
                ),
            )
    return None


async def security_headers(request: Request, resp: HTTPResponse) -> None:
    """Adds the security headers; pages and JSON are never cached."""
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):
        resp.headers["Cache-Control"] = "no-store"


def create_app(settings: ConsoleSettings, engine: Engine) -> Sanic:
    """Builds the console's web app.

    Args:
        settings: the console's settings (secret key, Rasa address, time zone).
        engine: the engine of `DATABASE_URL` (migrated).

    Returns:
        The Sanic app, ready for `app.run()`.
    """
    from bot.console.routes import (
        account,
        admin,
        answers,
        conversations,
        handoffs,
        intake,
        models,
        overview,
        saved_replies,
        session,
    )
    from bot.handoff import HandoffService, waiting
    from bot.settings import models as model_settings

    app = Sanic("clinic_console")
    app.config.FORWARDED_SECRET = None
    app.config.REQUEST_MAX_SIZE = 1_000_000
    app.config.KEEP_ALIVE_TIMEOUT = 5
    zone = ZoneInfo(settings.clinic_timezone)
    app.ctx.settings = settings
    app.ctx.engine = engine
    app.ctx.zone = zone
    app.ctx.templates = build_templates(str(HERE / "templates"), zone)
    app.ctx.models = model_settings.load(is_local=settings.is_local)
    app.ctx.handoffs = HandoffService(
        settings.rasa_url, settings.rasa_api_token, engine
    )
    app.register_middleware(authenticate, "request")
    app.register_middleware(security_headers, "response")
    app.static("/static", str(HERE / "static"), name="static")
    for module in (
        session,
        account,
        overview,
        conversations,
        handoffs,
        intake,
        answers,
        admin,
        saved_replies,
        models,
    ):
        app.blueprint(module.bp)
    app.blueprint(models.endpoint)

    @app.after_server_start
    async def first_refresh(app: Sanic, loop) -> None:
        """Builds the summaries in the background (long on a first start)."""
        app.ctx.first_refresh = loop.create_task(off_loop(summaries.refresh, engine))

    @app.after_server_start
    async def start_waiting_notices(app: Sanic, loop) -> None:
        """Tells patients waiting past the target, once (`bot.handoff.waiting`)."""
        app.ctx.waiting_notices = loop.create_task(
            waiting.keep_sweeping(
                app.ctx.handoffs,
                settings.hours(),
                timedelta(minutes=settings.handoff_target_minutes),
            )
        )

    @app.before_server_stop
    async def stop_waiting_notices(app: Sanic, loop) -> None:
        app.ctx.waiting_notices.cancel()

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return response.text("ok")

    @app.get("/favicon.ico")
    async def favicon(request: Request) -> HTTPResponse:
        return response.empty()

    return app
