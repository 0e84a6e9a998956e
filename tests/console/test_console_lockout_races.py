"""Issue 10 #9: the lockout and the per-address throttle hold under parallel attacks.

A real console (its password checks counted by `tests.support.counting_console`)
on real SQLite and real PostgreSQL, attacked over real HTTP on loopback the way
a script would: 30 clients each fetch the sign-in form, then all post at the same
moment. Before the fix, the counters were read, checked and written back in
separate steps: on PostgreSQL 60 parallel wrong passwords got 34 real checks and
the account never locked; the per-address throttle let more than 20 through.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import List

import pytest
import requests
import sqlalchemy as sa

from bot.console import auth
from bot.console.auth import common as auth_common
from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.models import AuditEntry, ConsoleUser, utcnow
from tests.support.console import run_console
from tests.support.databases import BACKENDS, module_database

ATTACKERS = 30
THROTTLE_ATTACKERS = 40  # from one address, across accounts
AUDIT = AuditEntry.__table__
USERS = ConsoleUser.__table__
VICTIM = ("victim@clinic.example", "victim-password-123")


@pytest.fixture(scope="module", params=BACKENDS)
def counted(request, tmp_path_factory):
    """Two console processes on one database (SQLite or PostgreSQL), as when a
    clinic runs more than one; their password checks are counted in one file."""
    tmp = tmp_path_factory.mktemp(f"races_{request.param}")
    checks = tmp / "checks.txt"
    env = {"CONSOLE_TEST_CHECKS": str(checks), "CONSOLE_SECRET_KEY": "k9" * 24}
    with module_database(request.param, tmp) as url:
        upgrade(url)
        with session_scope(get_engine(url)) as session:
            auth.create_user(session, VICTIM[0], VICTIM[1], "staff", "Vic")
        with (
            run_console(
                url, tmp / "console1.log", env, module="tests.support.counting_console"
            ) as first,
            run_console(
                url, tmp / "console2.log", env, module="tests.support.counting_console"
            ) as second,
        ):
            yield SimpleNamespace(
                urls=(first, second), engine=get_engine(url), checks=checks
            )
        dispose_engines()


def _checks(counted, kind: str = "") -> int:
    if not counted.checks.exists():
        return 0
    lines = counted.checks.read_text().split()
    return sum(1 for line in lines if not kind or line == kind)


def _clear(counted) -> None:
    """Forgets earlier failures and checks (as if from another address, later)."""
    with counted.engine.begin() as connection:
        connection.execute(
            sa.delete(AUDIT).where(AUDIT.c.action == auth.SIGN_IN_FAILED)
        )
        connection.execute(sa.update(USERS).values(failed_logins=0, locked_until=None))
    counted.checks.write_text("")


def _form(session: requests.Session, base_url: str) -> str:
    page = session.get(base_url + "/login", timeout=30)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _storm(urls, credentials: List[tuple]) -> List[requests.Response]:
    """Posts every (email, password) at the same moment, one client each, to
    the console processes in turn."""
    targets = [urls[n % len(urls)] for n in range(len(credentials))]
    sessions = [requests.Session() for _ in credentials]
    tokens = [_form(s, url) for s, url in zip(sessions, targets, strict=True)]
    start = threading.Barrier(len(credentials))

    def attack(index: int) -> requests.Response:
        email, password = credentials[index]
        start.wait()
        return sessions[index].post(
            targets[index] + "/login",
            data={"csrf_token": tokens[index], "email": email, "password": password},
            allow_redirects=False,
            timeout=120,
        )

    with ThreadPoolExecutor(len(credentials)) as pool:
        return list(pool.map(attack, range(len(credentials))))


def test_parallel_wrong_passwords_lock_the_account_after_five_checks(counted):
    _clear(counted)
    responses = _storm(
        counted.urls, [(VICTIM[0], f"guess-{n:04d}") for n in range(ATTACKERS)]
    )

    assert {r.status_code for r in responses} <= {401, 429}
    assert not any("console_session" in r.cookies for r in responses)
    real = _checks(counted, "real")
    assert 1 <= real <= auth.MAX_FAILURES, f"{real} real password checks"
    with session_scope(counted.engine) as session:
        victim = session.execute(
            sa.select(auth.ConsoleUser).where(auth.ConsoleUser.email == VICTIM[0])
        ).scalar_one()
        assert victim.locked_until is not None and victim.locked_until > utcnow()
    # Every refused attempt left its audit entry (written with the counter).
    with counted.engine.connect() as connection:
        failures = connection.execute(
            sa.select(sa.func.count())
            .select_from(AUDIT)
            .where(AUDIT.c.action == auth.SIGN_IN_FAILED)
        ).scalar_one()
    assert failures == sum(1 for r in responses if r.status_code == 401)

    # Locked: the right password is refused too, without a real check.
    with counted.engine.begin() as connection:  # another address, say
        connection.execute(
            sa.delete(AUDIT).where(AUDIT.c.action == auth.SIGN_IN_FAILED)
        )
    session = requests.Session()
    url = counted.urls[0]
    right = session.post(
        url + "/login",
        data={
            "csrf_token": _form(session, url),
            "email": VICTIM[0],
            "password": VICTIM[1],
        },
        allow_redirects=False,
    )
    assert right.status_code == 401 and "console_session" not in right.cookies
    assert _checks(counted, "real") == real


@pytest.mark.parametrize("storm", range(3))  # an overshoot can be rare: try thrice
def test_parallel_failures_from_one_address_stop_at_the_throttle(counted, storm):
    _clear(counted)
    responses = _storm(
        counted.urls,
        [
            (f"nobody{n}@clinic.example", "wrong-password")
            for n in range(THROTTLE_ATTACKERS)
        ],
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == auth.THROTTLE_FAILURES, statuses
    assert statuses.count(429) == THROTTLE_ATTACKERS - auth.THROTTLE_FAILURES
    assert _checks(counted) == auth.THROTTLE_FAILURES  # no check beyond the limit
    with counted.engine.connect() as connection:
        failures = connection.execute(
            sa.select(sa.func.count())
            .select_from(AUDIT)
            .where(AUDIT.c.action == auth.SIGN_IN_FAILED)
        ).scalar_one()
    assert failures == auth.THROTTLE_FAILURES
    _clear(counted)


def test_parallel_checks_in_threads_reach_the_password_at_most_five_times(
    counted, monkeypatch
):
    """The same race without HTTP: 30 threads call the sign-in check at once."""
    _clear(counted)
    real = []
    original = auth_common._verify

    def counting(password_hash, password):
        if password_hash != auth_common._DUMMY_HASH:
            real.append(1)
        return original(password_hash, password)

    monkeypatch.setattr(auth_common, "_verify", counting)
    start = threading.Barrier(ATTACKERS)

    def attempt(n: int) -> str:
        start.wait()
        try:
            auth.check_password(counted.engine, VICTIM[0], f"guess-{n}", f"10.9.0.{n}")
        except auth.SignInError as error:
            return type(error).__name__
        return "signed in"

    with ThreadPoolExecutor(ATTACKERS) as pool:
        outcomes = list(pool.map(attempt, range(ATTACKERS)))
    assert set(outcomes) == {"SignInError"}
    assert len(real) == auth.MAX_FAILURES
    _clear(counted)
    accepted = auth.check_password(counted.engine, VICTIM[0], VICTIM[1], "10.9.1.1")
    assert accepted.email == VICTIM[0] and not accepted.needs_totp
