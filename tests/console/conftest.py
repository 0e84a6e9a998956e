"""Fixtures of the staff console tests: a seeded database and a running console."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Iterator, Optional

import pytest

from bot.console import auth
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from tests.conftest import ROOT, free_port, wait_for_http
from tests.console.seed import seed_clinic

ADMIN = ("admin@clinic.example", "admin-password-123")
STAFF = ("nurse@clinic.example", "staff-password-123")
START_SECONDS = 60


@contextmanager
def run_console(
    database_url: str, log_path: Path, extra_env: Optional[Dict[str, str]] = None
) -> Iterator[str]:
    """Starts `python -m bot.console serve` on a free port; yields its base URL."""
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
            [sys.executable, "-m", "bot.console", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
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


def sign_in(page, base_url: str, account=ADMIN, next_path: str = "/") -> None:
    """Signs in through the form, like a person."""
    page.goto(f"{base_url}/login?next={next_path}")
    page.fill("input[name=email]", account[0])
    page.fill("input[name=password]", account[1])
    page.click("button[type=submit]")
    page.wait_for_load_state()
