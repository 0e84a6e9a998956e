"""Fixtures of the staff console tests: a seeded database and a running console.

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
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Iterator, Optional
from urllib.parse import urlsplit

import pyotp
import pytest
import requests

from bot.console import auth
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from tests.conftest import ROOT, free_port, wait_for_http
from tests.console.registry import DATABASES, LAST_STEP, TOTP_SECRETS
from tests.console.seed import seed_clinic

ADMIN = ("admin@clinic.example", "admin-password-123")
STAFF = ("nurse@clinic.example", "staff-password-123")
START_SECONDS = 60


@contextmanager
def run_console(
    database_url: str,
    log_path: Path,
    extra_env: Optional[Dict[str, str]] = None,
    module: str = "bot.console",
) -> Iterator[str]:
    """Starts `python -m bot.console serve` on a free port; yields its base URL.

    `module`: another entry point with the same command line (e.g. the console
    with its password checks counted, `tests.console.counting_console`).
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
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        DATABASES[base_url] = database_url
        try:
            try:
                wait_for_http(base_url + "/healthz", START_SECONDS, process)
            except (RuntimeError, TimeoutError) as error:
                log.flush()
                raise RuntimeError(
                    f"console did not start ({error}): {log_path.read_text()[-3000:]}"
                ) from None
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def module_database(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh database for a module's console: a SQLite file under `tmp`, or a
    schema of its own in the PostgreSQL test database (dropped afterwards)."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from tests.conftest import POSTGRES_URL, postgres_available

    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'clinic.db'}"
        return
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, future=True)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).update_query_dict(
        {"options": f"-csearch_path={schema}"}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def add_staff(database_url: str) -> None:
    """Adds the non-admin account used by the tests."""
    with session_scope(get_engine(database_url)) as session:
        auth.create_user(session, STAFF[0], STAFF[1], "staff")


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """A console on a seeded SQLite database, with an admin and a staff account."""
    tmp = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)
    ids = seed_clinic(get_engine(url))
    with run_console(url, tmp / "console.log") as base_url:
        add_staff(url)  # after the start: the first admin comes from the environment
        yield SimpleNamespace(
            url=base_url, database_url=url, ids=ids, engine=get_engine(url), log=tmp
        )
    dispose_engines()


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
