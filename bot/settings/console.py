"""Settings of the console area: the staff console, read from the environment once.

Built on `bot.settings` (database, Rasa's address and token, clinic hours) plus
the console's own variables:

- `CONSOLE_PORT` (8080): port of the console (interface: `HOST`).
- `CONSOLE_SECRET_KEY`: keys the stored session hashes and signs the sign-in
  form's CSRF token. Local default: a random key kept in `var/console_secret_key`;
  outside `local` required, 32+ characters, not a placeholder.
- `CONSOLE_ADMIN_EMAIL`, `CONSOLE_ADMIN_PASSWORD`: the first admin, created at
  start when no account exists yet (`CONSOLE_ADMIN_NAME`: their display name,
  what patients see on their replies; they can set it later too).
- `CONSOLE_USER_PASSWORD`: the password `python -m bot.console users create`
  uses instead of asking at the terminal (checked when the account is made).
- `CONSOLE_RETENTION_DAYS` (365): `purge` deletes conversations older than this.
- `CONSOLE_SESSION_HOURS` (12): a signed-in session ends after this long.
- `CONSOLE_IDLE_MINUTES` (30): ... or after this long without a request (the
  handoff queue's own polling does not count).
- `HANDOFF_TARGET_MINUTES` (15): a handoff without a staff reply after this long
  is marked "over target" on the queue, and its patient is told once
  (`bot.handoff.waiting`).

Outside a local run session cookies are `Secure` (HTTPS only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Optional

from bot.settings.core import (
    SettingsError,
    load_settings,
    local_secret,
    positive_int,
)

MIN_SECRET_LENGTH = 32
MIN_PASSWORD_LENGTH = 12
# Values people copy from examples; refused outside a local run.
PLACEHOLDER_SECRETS = frozenset(
    {"change-me", "changeme", "secret", "default", "console-secret", "please-change"}
)


@dataclass(frozen=True)
class ConsoleSettings:
    """The console's configuration."""

    app_env: str
    database_url: str
    host: str
    port: int
    secret_key: str
    rasa_url: str
    rasa_api_token: str
    clinic_timezone: str
    admin_email: Optional[str] = None
    admin_password: Optional[str] = None
    admin_name: Optional[str] = None
    user_password: Optional[str] = None
    retention_days: int = 365
    session_hours: int = 12
    idle_minutes: int = 30
    handoff_target_minutes: int = 15
    clinic_hours: str = "Mon-Fri 09:00-17:00"

    def hours(self):
        """The clinic hours (`CLINIC_HOURS`) as a `bot.clinic_hours.ClinicHours`."""
        from bot.clinic_hours import ClinicHours

        return ClinicHours.parse(self.clinic_hours, self.clinic_timezone)

    @property
    def is_local(self) -> bool:
        """True for a run on a developer's or a clinic's own machine."""
        return self.app_env == "local"

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over HTTPS, everywhere but on a local run (plain HTTP)."""
        return not self.is_local

    def __repr__(self) -> str:
        # Never print the secrets (tracebacks, debuggers, logs).
        return (
            f"ConsoleSettings(app_env={self.app_env!r}, host={self.host!r}, "
            f"port={self.port})"
        )


def _secret_key(env: Mapping[str, str], is_local: bool) -> str:
    key = env.get("CONSOLE_SECRET_KEY", "").strip()
    if key:
        if not is_local:
            if key.lower() in PLACEHOLDER_SECRETS or len(set(key)) < 8:
                raise SettingsError(
                    "CONSOLE_SECRET_KEY is a placeholder: set a random one"
                )
            if len(key) < MIN_SECRET_LENGTH:
                raise SettingsError(
                    "CONSOLE_SECRET_KEY must be at least "
                    f"{MIN_SECRET_LENGTH} characters"
                )
        return key
    if not is_local:
        raise SettingsError(
            "CONSOLE_SECRET_KEY is required outside a local run "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return local_secret("console_secret_key", 48)


def _admin(env: Mapping[str, str]) -> tuple[Optional[str], Optional[str]]:
    email = env.get("CONSOLE_ADMIN_EMAIL", "").strip().lower() or None
    password = env.get("CONSOLE_ADMIN_PASSWORD") or None
    if email and not password:
        raise SettingsError("CONSOLE_ADMIN_EMAIL needs CONSOLE_ADMIN_PASSWORD")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise SettingsError(
            f"CONSOLE_ADMIN_PASSWORD must be at least {MIN_PASSWORD_LENGTH} characters"
        )
    return email, password


def load(env: Optional[Mapping[str, str]] = None) -> ConsoleSettings:
    """Reads and validates the console's settings from `env` (default: os.environ).

    Raises:
        SettingsError: a setting is missing or invalid (outside a local run: a
            missing, short or placeholder `CONSOLE_SECRET_KEY`).
    """
    env = os.environ if env is None else env
    base = load_settings(env)
    admin_email, admin_password = _admin(env)
    return ConsoleSettings(
        app_env=base.app_env,
        database_url=base.database_url,
        host=base.host,
        port=base.console_port,
        secret_key=_secret_key(env, base.is_local),
        rasa_url=f"http://127.0.0.1:{base.rasa_port}",
        rasa_api_token=base.rasa_api_token,
        clinic_timezone=base.clinic_timezone,
        clinic_hours=base.clinic_hours,
        admin_email=admin_email,
        admin_password=admin_password,
        admin_name=env.get("CONSOLE_ADMIN_NAME", "").strip() or None,
        user_password=env.get("CONSOLE_USER_PASSWORD") or None,
        retention_days=positive_int(env, "CONSOLE_RETENTION_DAYS", 365),
        session_hours=positive_int(env, "CONSOLE_SESSION_HOURS", 12),
        idle_minutes=positive_int(env, "CONSOLE_IDLE_MINUTES", 30),
        handoff_target_minutes=positive_int(env, "HANDOFF_TARGET_MINUTES", 15),
    )


@lru_cache(maxsize=1)
def get_console_settings() -> ConsoleSettings:
    """The process-wide console settings, read on first use."""
    return load()
