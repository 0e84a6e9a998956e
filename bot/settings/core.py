"""One validated settings object, read from the environment once.

Every process of the product (Rasa server, action server, the launcher) reads its
configuration here; `endpoints.yml` gets the same values through `${VAR}`, which
`bot.serve` sets from this object before it starts Rasa. The variables are listed in
`.env.example` and README.md.

Outside a local run (`APP_ENV` other than `local`) a missing or default secret is
refused instead of silently falling back to something guessable. A missing `APP_ENV`
means `local` only while `HOST` is loopback: binding beyond loopback needs an
explicit `APP_ENV`, so local conveniences never reach a network by omission.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VAR_DIR = PROJECT_ROOT / "var"
MODELS_DIR = VAR_DIR / "models"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
MIN_SECRET_CHARS = 24


class SettingsError(ValueError):
    """A setting is missing or invalid; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    """The product's configuration."""

    app_env: str
    database_url: str
    rasa_api_token: str
    host: str
    rasa_port: int
    action_port: int
    action_server_url: str
    clinic_hours: str = "Mon-Fri 09:00-17:00"
    clinic_timezone: str = "America/New_York"
    staff_notify_url: Optional[str] = None
    widget_port: int = 8000
    console_port: int = 8080
    # The shared secret the Rasa server sends the action server (`Authorization:
    # Bearer ...`). None outside a local run when ACTION_SERVER_TOKEN is unset: the
    # launcher then makes one per launch, a stand-alone action server refuses to start.
    action_server_token: Optional[str] = None
    # Rasa server worker processes (`WORKERS`); more than one needs PostgreSQL and
    # Redis (`REDIS_URL`): the conversation locks and the chat's socket.io messages
    # go through Redis, so any worker can take any message.
    workers: int = 1
    redis_url: Optional[str] = None

    def hours(self):
        """The clinic hours as a `bot.clinic_hours.ClinicHours`."""
        from bot.clinic_hours import ClinicHours

        return ClinicHours.parse(self.clinic_hours, self.clinic_timezone)

    @property
    def is_local(self) -> bool:
        """True for a run on a developer's or a clinic's own machine."""
        return self.app_env == "local"

    def child_environment(self) -> dict:
        """Environment for the child processes: they read the same settings.

        Secrets travel here (readable only by the same user), never on a command
        line, which `ps` shows to every user of the machine.
        """
        env = {
            **os.environ,
            "APP_ENV": self.app_env,
            "DATABASE_URL": self.database_url,
            "RASA_API_TOKEN": self.rasa_api_token,
            "HOST": self.host,
            "RASA_PORT": str(self.rasa_port),
            "ACTION_PORT": str(self.action_port),
            "WIDGET_PORT": str(self.widget_port),
            "CONSOLE_PORT": str(self.console_port),
            "ACTION_SERVER_URL": self.action_server_url,
            "CLINIC_HOURS": self.clinic_hours,
            "CLINIC_TIMEZONE": self.clinic_timezone,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        }
        if self.action_server_token:
            env["ACTION_SERVER_TOKEN"] = self.action_server_token
        # Rasa reads SANIC_WORKERS itself; bot.rasa_server checks it really runs them.
        env["WORKERS"] = env["SANIC_WORKERS"] = str(self.workers)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def __repr__(self) -> str:
        # Never print secrets (tracebacks, debuggers, logs).
        return (
            f"Settings(app_env={self.app_env!r}, host={self.host!r}, "
            f"workers={self.workers})"
        )


def is_loopback(host: str) -> bool:
    """True if `host` (an interface to bind) is reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name, "" or a wildcard: assume the network


def _app_env(env: Mapping[str, str], host: str) -> str:
    app_env = env.get("APP_ENV", "").strip()
    if app_env:
        return app_env
    if not is_loopback(host):
        raise SettingsError(
            f"HOST={host!r} listens beyond loopback, so APP_ENV must be set "
            "explicitly (e.g. APP_ENV=production); a missing APP_ENV means local "
            "defaults, which are only safe on 127.0.0.1"
        )
    return "local"


def _default_action_server_url(host: str, action_port: int) -> str:
    """Where Rasa reaches the action server, which listens on `host`."""
    try:
        address = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        address = None
    if host.strip() in ("", "0.0.0.0", "::") or (address and address.is_unspecified):
        target = "127.0.0.1"  # every interface includes loopback
    elif address and address.version == 6:
        target = f"[{address}]"
    else:
        target = host.strip()
    return f"http://{target}:{action_port}/webhook"


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """`name` as a whole number of at least 1; `default` when unset or blank.

    Raises:
        SettingsError: not a whole number, or below 1 (the message names `name`).
    """
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name} must be at least 1, got {value}")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name} must be between 1 and 65535, got {port}")
    return port


def _database_url(env: Mapping[str, str]) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = env.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'rasa.db'}"
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(
            "DATABASE_URL is not a SQLAlchemy URL (e.g. "
            "postgresql://user:password@host:5432/dbname)"
        ) from None
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise SettingsError(
            f"DATABASE_URL must be one of {', '.join(SUPPORTED_DIALECTS)}, "
            f"got {parsed.get_backend_name()!r}"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def _api_token(env: Mapping[str, str], is_local: bool) -> str:
    token = env.get("RASA_API_TOKEN", "")
    if token:
        if not is_local and len(token) < MIN_SECRET_CHARS:
            raise SettingsError(
                f"RASA_API_TOKEN must be at least {MIN_SECRET_CHARS} characters"
            )
        return token
    if not is_local:
        raise SettingsError("RASA_API_TOKEN is required outside a local run")
    return local_secret("rasa_api_token", 32)


def optional_secret(
    env: Mapping[str, str], name: str, is_local: bool, local_file: str
) -> Optional[str]:
    """A shared secret from `name`: 24+ characters outside a local run.

    Unset, a local run gets a random one kept in var/`local_file`, and any other
    run None (the caller decides what that means: refuse, or make one per launch).
    """
    token = env.get(name, "").strip()
    if token:
        if not is_local and len(token) < MIN_SECRET_CHARS:
            raise SettingsError(
                f"{name} must be at least {MIN_SECRET_CHARS} characters"
            )
        return token
    return local_secret(local_file, 32) if is_local else None


def _action_server_token(env: Mapping[str, str], is_local: bool) -> Optional[str]:
    token = optional_secret(env, "ACTION_SERVER_TOKEN", is_local, "action_server_token")
    if token and any(c.isspace() or c == "$" for c in token):
        raise SettingsError(
            "ACTION_SERVER_TOKEN must not contain spaces or '$' "
            "(it is substituted into endpoints.yml)"
        )
    return token


def _twilio_api_base_url(env: Mapping[str, str], is_local: bool) -> None:
    url = env.get("TWILIO_API_BASE_URL", "").strip()
    if url and not is_local and not url.lower().startswith("https://"):
        raise SettingsError(
            "TWILIO_API_BASE_URL must be an https:// URL outside a local run "
            "(messages carry patients' numbers and texts)"
        )


def local_secret(name: str, nbytes: int) -> str:
    """A random secret for a local run: made once per checkout, kept in var/.

    Args:
        name: the file under var/ (git-ignored), e.g. "rasa_api_token".
        nbytes: random bytes of a new secret (`secrets.token_urlsafe`).

    Returns:
        The secret, the same on every call and in every process of the checkout.
    """
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def _workers(env: Mapping[str, str], database_url: str) -> tuple[int, Optional[str]]:
    """`WORKERS` and `REDIS_URL`, refused unless several workers can share the work."""
    from sqlalchemy.engine import make_url

    from bot.settings import workers as worker_settings

    area = worker_settings.load(env)
    if area.workers > 1:
        if make_url(database_url).get_backend_name() != "postgresql":
            raise SettingsError(
                f"WORKERS={area.workers} needs PostgreSQL: SQLite takes one writer "
                "at a time. Set DATABASE_URL=postgresql://... or WORKERS=1."
            )
        if not area.redis_url:
            raise SettingsError(
                f"WORKERS={area.workers} needs Redis for the conversation locks and "
                "the chat's messages between workers. Set REDIS_URL=redis://... or "
                "WORKERS=1."
            )
    return area.workers, area.redis_url


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Reads and validates the settings from `env` (default: os.environ)."""
    env = os.environ if env is None else env
    host = env.get("HOST", "127.0.0.1")
    app_env = _app_env(env, host)
    is_local = app_env == "local"
    action_port = _port(env, "ACTION_PORT", 5055)
    _twilio_api_base_url(env, is_local)
    database_url = _database_url(env)
    workers, redis_url = _workers(env, database_url)
    return Settings(
        app_env=app_env,
        database_url=database_url,
        workers=workers,
        redis_url=redis_url,
        rasa_api_token=_api_token(env, is_local),
        host=host,
        rasa_port=_port(env, "RASA_PORT", 5005),
        widget_port=_port(env, "WIDGET_PORT", 8000),
        console_port=_port(env, "CONSOLE_PORT", 8080),
        action_port=action_port,
        action_server_url=(
            env.get("ACTION_SERVER_URL")
            or _default_action_server_url(host, action_port)
        ),
        action_server_token=_action_server_token(env, is_local),
        **_clinic(env),
    )


def _clinic(env: Mapping[str, str]) -> dict:
    from bot.clinic_hours import ClinicHours, ClinicHoursError

    hours = env.get("CLINIC_HOURS", "Mon-Fri 09:00-17:00")
    timezone = env.get("CLINIC_TIMEZONE", "America/New_York")
    try:
        ClinicHours.parse(hours, timezone)
    except ClinicHoursError as error:
        raise SettingsError(str(error)) from None
    notify = env.get("STAFF_NOTIFY_URL") or None
    if notify and not notify.startswith(("http://", "https://")):
        raise SettingsError("STAFF_NOTIFY_URL must be an http(s) URL")
    return {
        "clinic_hours": hours,
        "clinic_timezone": timezone,
        "staff_notify_url": notify,
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (never at import time)."""
    return load_settings()
