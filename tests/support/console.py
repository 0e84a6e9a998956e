"""The staff console for tests: started on a free port, signed in to like a person.

Signing in (`sign_in` in a browser, `http_sign_in` with requests) goes through
the real forms: the password, then the second factor. An admin's first sign-in
sets the factor up from the key the page shows (kept in `TOTP_SECRETS`), later
ones type the current code. A code works once per 30 s step: for consoles
started here the helper forgets the last used step in the database, for others
it waits for the next step.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional, Tuple
from urllib.parse import urlsplit

import pyotp
import requests

from bot.console import auth
from bot.db.engine import get_engine, session_scope
from tests.support.net import free_port
from tests.support.paths import ROOT
from tests.support.servers import Command, started

ADMIN = ("admin@clinic.example", "admin-password-123")
STAFF = ("nurse@clinic.example", "staff-password-123")
START_SECONDS = 60
# (console base URL, email) -> the TOTP secret set up through the page.
TOTP_SECRETS: Dict[Tuple[str, str], str] = {}
# console base URL -> its DATABASE_URL, for consoles started by run_console.
DATABASES: Dict[str, str] = {}
# (console base URL, email) -> the last 30 s step whose code a helper used.
LAST_STEP: Dict[Tuple[str, str], int] = {}


@contextmanager
def run_console(
    database_url: str,
    log_path: Path,
    extra_env: Optional[Dict[str, str]] = None,
    module: str = "bot.console",
) -> Iterator[str]:
    """Starts `python -m bot.console serve` on a free port; yields its base URL.

    `module`: another entry point with the same command line (e.g. the console
    with its password checks counted, `tests.support.counting_console`).
    """
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "local",
        "DATABASE_URL": database_url,
        "CONSOLE_SECRET_KEY": secrets.token_urlsafe(48),
        "CONSOLE_ADMIN_EMAIL": ADMIN[0],
        "CONSOLE_ADMIN_PASSWORD": ADMIN[1],
        "RASA_API_TOKEN": "console-test-token-0123456789",
        "RASA_PORT": str(free_port()),  # nothing there unless extra_env says so
        **(extra_env or {}),
    }
    base_url = f"http://127.0.0.1:{port}"
    command = Command(
        name="staff console",
        argv=[sys.executable, "-m", module, "serve", "--port", str(port)],
        env=env,
        log_path=log_path,
        health_url=base_url + "/healthz",
        start_seconds=START_SECONDS,
    )
    DATABASES[base_url] = database_url
    with started(command):
        yield base_url


def add_staff(database_url: str) -> None:
    """Adds the non-admin account used by the tests."""
    with session_scope(get_engine(database_url)) as session:
        auth.create_user(session, STAFF[0], STAFF[1], "staff")


def totp_code(base_url: str, email: str, secret: Optional[str] = None) -> str:
    """A code for the account's next sign-in that has not been used yet."""
    secret = secret or TOTP_SECRETS[(base_url, email)]
    key = (base_url, email)
    database_url = DATABASES.get(base_url)
    if database_url is not None:
        import sqlalchemy as sa

        with get_engine(database_url).begin() as connection:
            connection.execute(
                sa.text(
                    "UPDATE console_users SET totp_last_step = NULL WHERE email = :e"
                ),
                {"e": email},
            )
    else:
        while int(time.time() // 30) <= LAST_STEP.get(key, -1):
            time.sleep(0.5)
    LAST_STEP[key] = int(time.time() // 30)
    return pyotp.TOTP(secret).now()


def _setup_secret(html: str) -> str:
    return re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")


def sign_in(page, base_url: str, account=ADMIN, next_path: str = "/") -> None:
    """Signs in through the forms, like a person (password, then the code)."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("input[name=email]", account[0])
    page.fill("input[name=password]", account[1])
    page.click("button[type=submit]")
    page.wait_for_load_state()
    path = urlsplit(page.url).path
    if path == "/login/totp":
        page.fill("input[name=code]", totp_code(base_url, account[0]))
        page.click("#totp-form button[type=submit]")
        page.wait_for_load_state()
    elif path == "/account/totp":  # an admin's first sign-in: set the factor up
        secret = _setup_secret(page.content())
        TOTP_SECRETS[(base_url, account[0])] = secret
        page.fill("input[name=code]", totp_code(base_url, account[0]))
        page.click("#totp-setup-form button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{base_url}{next_path}")
        page.wait_for_load_state()


def form_token(html: str, name: str = "csrf_token") -> str:
    """The value of a hidden form field (the first of that name)."""
    return re.search(rf'name="{name}" value="([^"]+)"', html).group(1)


def http_sign_in(base_url: str, account=ADMIN) -> requests.Session:
    """A requests session signed in through the forms (password, then the code)."""
    session = requests.Session()
    page = session.get(base_url + "/login")
    response = session.post(
        base_url + "/login",
        data={
            "csrf_token": form_token(page.text),
            "email": account[0],
            "password": account[1],
        },
    )
    path = urlsplit(response.url).path
    if path == "/login/totp":
        response = session.post(
            base_url + "/login/totp",
            data={
                "csrf_token": form_token(response.text),
                "code": totp_code(base_url, account[0]),
            },
        )
    elif path == "/account/totp":
        TOTP_SECRETS[(base_url, account[0])] = _setup_secret(response.text)
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', response.text)
        response = session.post(
            base_url + "/account/totp",
            data={
                "csrf_token": csrf.group(1),
                "code": totp_code(base_url, account[0]),
            },
        )
    path = urlsplit(response.url).path
    assert response.status_code == 200 and path not in (
        "/login",
        "/login/totp",
        "/account/totp",
    ), response.text[-2000:]
    return session
