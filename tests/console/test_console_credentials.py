"""Issue 10 #10: password change, admin-issued reset, TOTP second factor.

Over real HTTP against a running console on SQLite, the way staff (and an
attacker who has a password, or a stolen session) would use the forms.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
import requests
import sqlalchemy as sa

from bot.console import auth
from bot.db.engine import session_scope
from bot.db.models import AuditEntry, ConsoleUser, utcnow
from tests.support.console import (
    ADMIN,
    STAFF,
    TOTP_SECRETS,
    form_token,
    http_sign_in,
    totp_code,
)
from tests.support.paths import ROOT

USERS = ConsoleUser.__table__
AUDIT = AuditEntry.__table__


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url + "/account")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def new_account(console, email: str, password: str, role: str = "staff") -> int:
    with session_scope(console.engine) as db:
        return auth.create_user(db, email, password, role, "Robin").id


def password_step(url: str, email: str, password: str):
    """Posts the sign-in form; returns (session, response) without following on."""
    session = requests.Session()
    page = session.get(url + "/login")
    response = session.post(
        url + "/login",
        data={
            "csrf_token": form_token(page.text),
            "email": email,
            "password": password,
        },
    )
    return session, response


def path_of(response: requests.Response) -> str:
    return urlsplit(response.url).path


def user_row(console, email: str):
    with console.engine.connect() as connection:
        return connection.execute(sa.select(USERS).where(USERS.c.email == email)).one()


def audit_actions(console, email: str) -> list:
    with console.engine.connect() as connection:
        return [
            a
            for (a,) in connection.execute(
                sa.select(AUDIT.c.action)
                .where(AUDIT.c.user_email == email)
                .order_by(AUDIT.c.id)
            )
        ]


def clear_failures(console) -> None:
    with console.engine.begin() as connection:
        connection.execute(
            sa.delete(AUDIT).where(AUDIT.c.action == auth.SIGN_IN_FAILED)
        )


def test_an_admin_without_a_second_factor_can_only_set_it_up(console):
    email, password = "boss@clinic.example", "boss-password-123"
    new_account(console, email, password, "admin")
    session, response = password_step(console.url, email, password)
    assert path_of(response) == "/account/totp"
    # Nothing else opens: pages, JSON, and a POST with the right CSRF token.
    token = re.search(r'name="csrf-token" content="([^"]+)"', response.text).group(1)
    for path in ("/", "/conversations", "/intake", "/admin/users", "/account"):
        page = session.get(console.url + path, allow_redirects=False)
        assert page.status_code == 303 and page.headers["Location"] == "/account/totp"
    assert session.get(console.url + "/handoffs.json").status_code == 403
    note = session.post(
        console.url + "/conversations/note",
        data={"csrf_token": token, "id": "rest-safety", "note": "sneaky"},
        allow_redirects=False,
    )
    assert note.status_code == 303 and note.headers["Location"] == "/account/totp"
    assert (
        "sneaky"
        not in http_sign_in(console.url)
        .get(console.url + "/conversations/view?id=rest-safety")
        .text
    )

    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', response.text).group(1)
    secret = secret.replace(" ", "")
    assert "otpauth://totp/" in response.text
    # The stored secret is encrypted; a reload shows the same key.
    again = session.get(console.url + "/account/totp").text
    assert secret in again.replace(" ", "")
    wrong = session.post(
        console.url + "/account/totp", data={"csrf_token": token, "code": "000000"}
    )
    assert wrong.status_code == 400 and "did not match" in wrong.text
    right = session.post(
        console.url + "/account/totp",
        data={"csrf_token": token, "code": pyotp.TOTP(secret).now()},
    )
    assert path_of(right) == "/" and "Second factor on" in right.text
    row = user_row(console, email)
    assert row.totp_secret.startswith("v1:") and secret not in row.totp_secret
    assert session.get(console.url + "/intake").status_code == 200
    assert "totp enabled" in audit_actions(console, email)


def test_sign_in_with_a_second_factor_and_no_code_reuse(console):
    email, password = "lead@clinic.example", "lead-password-123"
    new_account(console, email, password, "admin")
    http_sign_in(console.url, (email, password))  # sets the factor up
    secret = TOTP_SECRETS[(console.url, email)]

    session, response = password_step(console.url, email, password)
    assert path_of(response) == "/login/totp"
    # The password alone opens nothing.
    for path in ("/", "/conversations", "/account/totp"):
        page = session.get(console.url + path, allow_redirects=False)
        assert page.headers["Location"].startswith("/login"), path
    pending = form_token(response.text)
    wrong = session.post(
        console.url + "/login/totp", data={"csrf_token": pending, "code": "123456"}
    )
    assert wrong.status_code == 401 and "not accepted" in wrong.text
    code = totp_code(console.url, email, secret)
    done = session.post(
        console.url + "/login/totp", data={"csrf_token": pending, "code": code}
    )
    assert path_of(done) == "/" and done.status_code == 200
    assert session.get(console.url + "/conversations").status_code == 200

    # The same code again (an observer replays it): refused.
    other, response = password_step(console.url, email, password)
    replay = other.post(
        console.url + "/login/totp",
        data={"csrf_token": form_token(response.text), "code": code},
    )
    assert replay.status_code == 401
    assert other.get(console.url + "/", allow_redirects=False).status_code == 303
    clear_failures(console)


def test_wrong_codes_count_against_the_lockout(console):
    """Someone with the password guesses codes: locked after five tries in all."""
    email, password = "guessed@clinic.example", "guessed-password-1"
    new_account(console, email, password, "admin")
    http_sign_in(console.url, (email, password))
    session, response = password_step(console.url, email, password)  # try 1
    pending = form_token(response.text)
    statuses = [
        session.post(
            console.url + "/login/totp",
            data={"csrf_token": pending, "code": f"{n:06d}"},
            allow_redirects=False,
        ).status_code
        for n in range(auth.MAX_FAILURES)
    ]
    assert statuses[: auth.MAX_FAILURES - 1] == [401] * (auth.MAX_FAILURES - 1)
    row = user_row(console, email)
    assert row.locked_until is not None and row.locked_until > utcnow()
    # Locked: the password and the right code get nowhere now.
    _, again = password_step(console.url, email, password)
    assert path_of(again) == "/login" and again.status_code == 401
    clear_failures(console)


def test_changing_the_password_ends_the_other_sessions(console):
    email, password = "changer@clinic.example", "changer-password-1"
    new_account(console, email, password)
    here = http_sign_in(console.url, (email, password))
    elsewhere = http_sign_in(console.url, (email, password))
    token = csrf(here, console.url)
    form = {"csrf_token": token, "new_password": "brand-new-password-9"}
    wrong = here.post(
        console.url + "/account/password",
        data={
            **form,
            "current_password": "not-it-at-all",
            "repeat": form["new_password"],
        },
    )
    assert wrong.status_code == 401 and "current password is wrong" in wrong.text
    differ = here.post(
        console.url + "/account/password",
        data={**form, "current_password": password, "repeat": "something-else-1"},
    )
    assert differ.status_code == 400
    short = here.post(
        console.url + "/account/password",
        data={
            "csrf_token": token,
            "current_password": password,
            "new_password": "short",
            "repeat": "short",
        },
    )
    assert short.status_code == 400 and "at least 12" in short.text
    done = here.post(
        console.url + "/account/password",
        data={**form, "current_password": password, "repeat": form["new_password"]},
    )
    assert done.status_code == 200 and "Password changed" in done.text
    assert here.get(console.url + "/conversations").status_code == 200
    gone = elsewhere.get(console.url + "/conversations", allow_redirects=False)
    assert gone.status_code == 303 and gone.headers["Location"].startswith("/login")
    _, old = password_step(console.url, email, password)
    assert old.status_code == 401
    http_sign_in(console.url, (email, "brand-new-password-9"))
    assert "password change" in audit_actions(console, email)
    clear_failures(console)


def _issue_reset(admin: requests.Session, url: str, user_id: int) -> str:
    page = admin.post(
        url + "/admin/users/reset",
        data={"csrf_token": csrf(admin, url), "id": str(user_id)},
    )
    assert page.status_code == 200
    return re.search(r'id="reset-link">([^<]+)<', page.text).group(1)


def _use(url: str, link: str, password: str) -> requests.Response:
    session = requests.Session()
    form = session.get(link)
    token = re.search(r'name="token" value="([^"]*)"', form.text)
    return session.post(
        url + "/reset",
        data={
            "csrf_token": form_token(form.text),
            "token": token.group(1) if token else "",
            "password": password,
            "repeat": password,
        },
    )


def test_an_admin_issued_reset_works_once_and_expires(console):
    email, password = "forgetful@clinic.example", "forgetful-password-1"
    user_id = new_account(console, email, password)
    signed_in_elsewhere = http_sign_in(console.url, (email, password))
    admin = http_sign_in(console.url)

    # Only admins issue resets.
    staff = http_sign_in(console.url, STAFF)
    refused = staff.post(
        console.url + "/admin/users/reset",
        data={"csrf_token": csrf(staff, console.url), "id": str(user_id)},
    )
    assert refused.status_code == 403

    link = _issue_reset(admin, console.url, user_id)
    token = link.split("token=")[1]
    assert user_row(console, email).reset_token_hash not in (None, token)
    done = _use(console.url, link, "after-reset-password-1")
    assert done.status_code == 200 and "Password changed" in done.text
    # Every session of the account ended; the new password works, the old not.
    ended = signed_in_elsewhere.get(console.url + "/", allow_redirects=False)
    assert ended.status_code == 303
    assert password_step(console.url, email, password)[1].status_code == 401
    http_sign_in(console.url, (email, "after-reset-password-1"))
    # Once only.
    again = _use(console.url, link, "third-password-123")
    assert again.status_code == 400 and "not valid" in again.text

    # An expired link does nothing.
    link = _issue_reset(admin, console.url, user_id)
    with console.engine.begin() as connection:
        connection.execute(
            sa.update(USERS)
            .where(USERS.c.id == user_id)
            .values(reset_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert _use(console.url, link, "expired-password-123").status_code == 400
    http_sign_in(console.url, (email, "after-reset-password-1"))
    # A guessed token is a failed sign-in (it counts for the address throttle).
    assert (
        _use(console.url, console.url + "/reset?token=guess", "x" * 12).status_code
        == 400
    )
    with console.engine.connect() as connection:
        actions = [
            a
            for (a,) in connection.execute(
                sa.select(AUDIT.c.action).where(AUDIT.c.object_id == email)
            )
        ]
    assert actions.count("password reset issued") == 2
    assert "password reset" in audit_actions(console, email)
    clear_failures(console)


def test_an_admin_turns_off_a_lost_second_factor(console):
    email, password = "lostphone@clinic.example", "lostphone-password-1"
    user_id = new_account(console, email, password, "admin")
    victim = http_sign_in(console.url, (email, password))
    assert user_row(console, email).totp_secret is not None
    admin = http_sign_in(console.url)
    users = admin.get(console.url + "/admin/users").text
    assert "Turn off second factor" in users
    done = admin.post(
        console.url + "/admin/users/totp-reset",
        data={"csrf_token": csrf(admin, console.url), "id": str(user_id)},
    )
    assert "Second factor turned off" in done.text
    assert user_row(console, email).totp_secret is None
    assert victim.get(console.url + "/", allow_redirects=False).status_code == 303
    # Being an admin, they set a new one up at the next sign-in.
    _, response = password_step(console.url, email, password)
    assert path_of(response) == "/account/totp"


def test_staff_may_turn_the_second_factor_on_and_are_then_asked_for_it(console):
    session = http_sign_in(console.url, STAFF)
    account = session.get(console.url + "/account").text
    assert "Off." in account
    page = session.get(console.url + "/account/totp").text
    secret = (
        re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    )
    done = session.post(
        console.url + "/account/totp",
        data={
            "csrf_token": csrf(session, console.url),
            "code": pyotp.TOTP(secret).now(),
        },
    )
    assert "Second factor on" in done.text
    TOTP_SECRETS[(console.url, STAFF[0])] = secret
    _, response = password_step(console.url, *STAFF)
    assert path_of(response) == "/login/totp"
    http_sign_in(console.url, STAFF)


def test_the_command_line_way_back_in(console):
    """The only admin forgot the password and lost the phone: the server's
    operator resets both; the account is signed out everywhere."""
    email = "cli@clinic.example"
    new_account(console, email, "cli-password-1234", "admin")
    before = http_sign_in(console.url, (email, "cli-password-1234"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "APP_ENV": "local",
        "DATABASE_URL": console.database_url,
        "CONSOLE_SECRET_KEY": "k" * 48,
        "CONSOLE_USER_PASSWORD": "cli-new-password-1",
    }
    for command in ("set-password", "reset-totp"):
        result = subprocess.run(
            [sys.executable, "-m", "bot.console", "users", command, "--email", email],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    assert user_row(console, email).totp_secret is None
    assert before.get(console.url + "/", allow_redirects=False).status_code == 303
    _, response = password_step(console.url, email, "cli-new-password-1")
    assert path_of(response) == "/account/totp"


@pytest.mark.parametrize("name", ["", "   ", "dana@clinic.example", "x" * 61, "a\x07b"])
def test_a_display_name_is_a_name(console, name):
    session = http_sign_in(console.url, ADMIN)
    response = session.post(
        console.url + "/account/name",
        data={"csrf_token": csrf(session, console.url), "display_name": name},
    )
    assert response.status_code == 400
