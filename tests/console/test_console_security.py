"""Security of the staff console, over real HTTP against a running console.

Every route of the app (read from its router, so a new page cannot be forgotten)
redirects to sign-in without a session; every POST without the CSRF token is
refused; hostile patient text is escaped in every view; a staff member cannot
reach admin pages; the audit log page; the lockout, the throttling of one client
address and the idle timeout; the security headers; the secret key check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from urllib.parse import quote

import pytest
import requests

from tests.support.console import ADMIN, STAFF, http_sign_in
from tests.support.paths import ROOT
from tests.support.seed import XSS_IMG

PUBLIC = {"/login", "/login/totp", "/reset", "/healthz", "/favicon.ico"}
# Needs no session but its own bearer token: tests/console/test_console_models.py.
PUBLIC |= {"/model/active"}
# Example values for routes that take an id.
EXAMPLES = {
    "/conversations/view": "?id=rest-hostile",
    "/intake/view": "?id=1",
    "/answers/view": "?key=is_it_safe",
}


def app_routes():
    """(method, path) of every route of the console app."""
    from sanic import Sanic

    from bot.console.app import create_app
    from bot.db.engine import get_engine
    from bot.settings.console import load as load_console_settings

    Sanic.test_mode = True
    env = {"DATABASE_URL": "sqlite://", "CONSOLE_SECRET_KEY": "k" * 40}
    app = create_app(load_console_settings(env), get_engine("sqlite://"))
    routes = []
    for route in app.router.routes:
        path = "/" + route.path
        if path.startswith("/static/") or path in PUBLIC:
            continue
        for method in route.methods:
            if method != "HEAD":
                routes.append((method, path))
    Sanic._app_registry.pop(app.name, None)
    return sorted(routes)


ROUTES = app_routes()
GET_ROUTES = [path for method, path in ROUTES if method == "GET"]
POST_ROUTES = [path for method, path in ROUTES if method == "POST"]


def signed_in(base_url: str, account=ADMIN) -> requests.Session:
    return http_sign_in(base_url, account)


def csrf_of(session: requests.Session, base_url: str) -> str:
    page = session.get(base_url + "/conversations")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_every_route_is_listed():
    assert {
        "/",
        "/conversations",
        "/handoffs",
        "/intake",
        "/answers",
        "/answers/view",
        "/admin/users",
        "/admin/audit",
    } <= set(GET_ROUTES)
    assert "/handoffs/reply" in POST_ROUTES and "/logout" in POST_ROUTES


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_redirects_to_sign_in_without_a_session(console, path):
    url = console.url + path + EXAMPLES.get(path, "")
    response = requests.get(url, allow_redirects=False, timeout=10)
    if path.endswith(".json"):
        assert response.status_code == 401
        return
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    # A forged or expired cookie is the same as none.
    response = requests.get(
        url, cookies={"console_session": "forged"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 303


@pytest.mark.parametrize("path", POST_ROUTES)
def test_posts_without_a_session_change_nothing(console, path):
    response = requests.post(
        console.url + path, data={"id": "rest-safety"}, allow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_a_post_without_the_csrf_token_is_refused(console, path):
    session = signed_in(console.url)
    data = {"id": "rest-safety", "status": "reviewed", "handoff_id": "1"}
    response = session.post(console.url + path, data=data, allow_redirects=False)
    assert response.status_code == 403
    wrong = {**data, "csrf_token": "not-the-token"}
    response = session.post(console.url + path, data=wrong, allow_redirects=False)
    assert response.status_code == 403
    # Still signed in, and nothing was reviewed.
    page = session.get(console.url + "/conversations/view?id=rest-safety")
    assert 'id="review-status">unreviewed' in page.text


def test_a_cross_site_post_is_refused_even_with_the_token(console):
    session = signed_in(console.url)
    token = csrf_of(session, console.url)
    response = session.post(
        console.url + "/conversations/note",
        data={"csrf_token": token, "id": "rest-safety", "note": "x"},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert response.status_code == 403


def test_sign_in_form_needs_its_csrf_token(console):
    response = requests.post(
        console.url + "/login",
        data={"email": ADMIN[0], "password": ADMIN[1]},
        allow_redirects=False,
    )
    assert response.status_code == 403
    assert "console_session" not in response.cookies


HOSTILE_PAGES = [
    "/conversations",
    "/conversations?q=script",
    "/conversations/view?id=rest-hostile",
    "/conversations/view?id=rest-human",
    "/handoffs",
    "/intake",
    "/intake/view?id=1",
    "/corrections",
]


@pytest.mark.parametrize("path", HOSTILE_PAGES)
def test_hostile_patient_text_is_escaped_in_every_view(console, path):
    session = signed_in(console.url)
    if path == "/corrections":
        page = session.get(console.url + "/conversations/view?id=rest-hostile")
        event_id = re.search(r'name="event_id" value="(\d+)"', page.text).group(1)
        session.post(
            console.url + "/conversations/correct",
            data={
                "csrf_token": csrf_of(session, console.url),
                "id": "rest-hostile",
                "event_id": event_id,
                "label": "out_of_scope",
            },
        )
    html = session.get(console.url + path).text
    assert "<script>window" not in html and "<img src=x" not in html
    if path in ("/conversations/view?id=rest-hostile", "/intake/view?id=1"):
        assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;hello" in html


def test_hostile_text_in_the_json_feed_is_data(console):
    session = signed_in(console.url)
    feed = session.get(console.url + "/handoffs.json").json()
    summaries = [item["summary"] for item in feed["items"]]
    assert any(XSS_IMG in s for s in summaries)  # the script renders it as text
    assert (
        session.get(console.url + "/handoffs.json")
        .headers["Content-Type"]
        .startswith("application/json")
    )


def test_staff_cannot_reach_admin_pages(console):
    session = signed_in(console.url, STAFF)
    admin_pages = [path for path in GET_ROUTES if path.startswith("/admin/")]
    assert len(admin_pages) >= 2
    for path in admin_pages:
        assert session.get(console.url + path).status_code == 403, path
    token = csrf_of(session, console.url)
    response = session.post(
        console.url + "/admin/users",
        data={
            "csrf_token": token,
            "email": "intruder@clinic.example",
            "password": "intruder-password-1",
            "role": "admin",
        },
    )
    assert response.status_code == 403
    admin = signed_in(console.url)
    assert "intruder@" not in admin.get(console.url + "/admin/users").text
    home = session.get(console.url + "/").text
    assert "Users</a>" not in home and "Audit log</a>" not in home


def test_security_headers_and_cookie_flags(console):
    response = requests.get(console.url + "/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "<script>" not in response.text.replace(
        '<script src="/static/console.js" defer></script>', ""
    )


def test_lockout_after_repeated_failures(console):
    email = "locked@clinic.example"
    from bot.console import auth
    from bot.db.engine import session_scope

    with session_scope(console.engine) as db:
        auth.create_user(db, email, "the-right-password", "staff")
    session = requests.Session()

    def attempt(password: str) -> requests.Response:
        page = session.get(console.url + "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return session.post(
            console.url + "/login",
            data={"csrf_token": token, "email": email, "password": password},
        )

    for _ in range(5):
        assert attempt("wrong-password!").status_code == 401
    locked = attempt("the-right-password")
    assert locked.status_code == 401  # locked: even the right password fails
    assert "locked" in locked.text


def test_sign_out_ends_the_session(console):
    session = signed_in(console.url)
    token = csrf_of(session, console.url)
    cookie = session.cookies.get("console_session")
    session.post(console.url + "/logout", data={"csrf_token": token})
    response = requests.get(
        console.url + "/conversations",
        cookies={"console_session": cookie},
        allow_redirects=False,
    )
    assert response.status_code == 303


@pytest.mark.parametrize(
    "key, message",
    [
        (None, "CONSOLE_SECRET_KEY is required"),
        ("short-key", "at least 32"),
        ("change-me", "placeholder"),
    ],
)
def test_outside_a_local_run_a_weak_secret_key_refuses_to_start(tmp_path, key, message):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "RASA_"))
    }
    env.update(
        APP_ENV="production",
        RASA_API_TOKEN="x" * 32,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
        PYTHONPATH=str(ROOT),
    )
    if key is not None:
        env["CONSOLE_SECRET_KEY"] = key
    result = subprocess.run(
        [sys.executable, "-m", "bot.console", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_conversation_ids_are_masked_in_lists_and_full_on_the_detail_page(console):
    session = signed_in(console.url)
    listing = session.get(console.url + "/conversations").text
    assert "+1******4567" in listing and "+15551234567" not in listing
    detail = session.get(
        console.url + "/conversations/view?id=" + quote("+15551234567")
    ).text
    assert "+15551234567" in detail
    queue = session.get(console.url + "/handoffs").text
    assert "+15557654321" not in queue  # a number inside the summary is masked
    intake = session.get(console.url + "/intake").text
    assert "+15559876543" not in intake and "jane.doe@example.org" not in intake


def _audit_rows(console, **where) -> list:
    from bot.db.models import AuditEntry

    AU = AuditEntry.__table__

    with console.engine.connect() as connection:
        return (
            connection.execute(
                AU.select().where(*(AU.c[k] == v for k, v in where.items()))
            )
            .mappings()
            .all()
        )


def test_audit_log_page_masks_escapes_filters_and_is_audited(console):
    from bot.db.queries import audit

    hostile = "<script>window.__xss = 1</script>"
    with console.engine.begin() as connection:
        audit.record(connection, ADMIN[0], "view", "conversation", "+15551234567")
        audit.record(connection, hostile + "@x.org", hostile, "conversation", hostile)
    session = signed_in(console.url)
    before = len(_audit_rows(console, object_type="audit log"))
    html = session.get(console.url + "/admin/audit").text
    assert 'id="audit-list"' in html and "Audit log</a>" in html
    assert "+1******4567" in html and "+15551234567" not in html
    assert "<script>window" not in html and "&lt;script&gt;window.__xss" in html
    views = _audit_rows(console, object_type="audit log")
    assert len(views) == before + 1
    assert views[-1]["user_email"] == ADMIN[0] and views[-1]["action"] == "view"
    filtered = session.get(
        console.url + "/admin/audit", params={"user": "x.org", "action": hostile}
    ).text
    assert "1 entry" in filtered and "+1******4567" not in filtered
    assert (
        "0 entries"
        in session.get(
            console.url + "/admin/audit",
            params={"from": "2000-01-01", "to": "2000-01-02"},
        ).text
    )


def _sign_in_attempt(session: requests.Session, url: str, email: str, password: str):
    page = session.get(url + "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return session.post(
        url + "/login",
        data={"csrf_token": token, "email": email, "password": password},
    )


def test_too_many_failures_from_one_address_get_429(console):
    from bot.console import auth
    from bot.db.models import AuditEntry

    AU = AuditEntry.__table__

    def clear_failures() -> None:
        with console.engine.begin() as connection:
            connection.execute(AU.delete().where(AU.c.action == auth.SIGN_IN_FAILED))

    clear_failures()  # the lockout test may have run first, from this address too
    session = requests.Session()
    try:
        for number in range(auth.THROTTLE_FAILURES):
            email = f"nobody{number}@clinic.example"  # across (unknown) accounts
            response = _sign_in_attempt(session, console.url, email, "wrong-password")
            assert response.status_code == 401
        known = _sign_in_attempt(session, console.url, ADMIN[0], ADMIN[1])
        unknown = _sign_in_attempt(session, console.url, "x@y.example", "whatever")
        # Refused even with the right password; the same words for any account.
        assert known.status_code == unknown.status_code == 429
        assert "Too many failed sign-ins" in known.text
        assert known.text == unknown.text
        assert known.headers["Retry-After"] == str(auth.THROTTLE_MINUTES * 60)
        assert "console_session" not in session.cookies
    finally:
        clear_failures()  # later tests sign in from this address
    assert signed_in(console.url).get(console.url + "/").status_code == 200


def test_an_idle_session_ends_and_polling_does_not_keep_it_alive(console):
    from datetime import timedelta

    from bot.console import auth
    from bot.db.engine import session_scope
    from bot.db.models import utcnow

    account = ("idle@clinic.example", "idle-password-123")
    with session_scope(console.engine) as db:
        user_id = auth.create_user(db, account[0], account[1], "staff").id
    session = signed_in(console.url, account)

    def set_last_seen(minutes_ago: int):
        value = utcnow() - timedelta(minutes=minutes_ago)
        with session_scope(console.engine) as db:
            db.execute(
                auth.ConsoleSession.__table__.update()
                .where(auth.ConsoleSession.user_id == user_id)
                .values(last_seen_at=value)
            )
        return value

    def last_seen():
        with session_scope(console.engine) as db:
            return (
                db.execute(
                    auth.ConsoleSession.__table__.select().where(
                        auth.ConsoleSession.user_id == user_id
                    )
                )
                .one()
                ._mapping["last_seen_at"]
            )

    stale = set_last_seen(29)
    assert session.get(console.url + "/handoffs.json").status_code == 200
    assert last_seen() == stale  # the queue's polling is not activity
    assert session.get(console.url + "/handoffs").status_code == 200
    assert last_seen() > stale  # a page is
    set_last_seen(31)  # default CONSOLE_IDLE_MINUTES: 30
    response = session.get(console.url + "/handoffs", allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")
    assert session.get(console.url + "/handoffs.json").status_code == 401


def _exports(console) -> int:
    from bot.db.models import AuditEntry

    AU = AuditEntry.__table__

    with console.engine.connect() as connection:
        return len(
            connection.execute(
                AU.select().where(AU.c.action == "export", AU.c.object_type == "intake")
            ).all()
        )


def test_intake_export_is_an_admin_post_never_a_cross_site_link(console):
    """Issue 10 #12: a link or a top-level GET from another site exported every
    caller's name, phone, email and condition (the cookie is SameSite=Lax, which
    a top-level GET still carries)."""
    admin = signed_in(console.url)
    before = _exports(console)
    cross_site = {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Referer": "https://evil.example/",
    }
    for query in ("", "?status=new"):
        response = admin.get(
            console.url + "/intake.csv" + query,
            headers=cross_site,
            allow_redirects=False,
        )
        assert response.status_code == 405
        assert "jane.doe@example.org" not in response.text
        assert "text/csv" not in response.headers.get("Content-Type", "")
    token = csrf_of(admin, console.url)
    forged = admin.post(
        console.url + "/intake.csv",
        data={"csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    assert admin.post(console.url + "/intake.csv", data={}).status_code == 403
    staff = signed_in(console.url, STAFF)
    refused = staff.post(
        console.url + "/intake.csv", data={"csrf_token": csrf_of(staff, console.url)}
    )
    assert refused.status_code == 403 and "jane.doe" not in refused.text
    assert 'id="export-csv"' not in staff.get(console.url + "/intake").text
    assert _exports(console) == before  # nothing was exported

    export = admin.post(
        console.url + "/intake.csv", data={"csrf_token": token, "status": ""}
    )
    assert export.status_code == 200
    assert export.headers["Content-Type"].startswith("text/csv")
    assert "jane.doe@example.org" in export.text
    assert _exports(console) == before + 1
