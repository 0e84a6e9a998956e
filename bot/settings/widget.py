"""Settings of the web chat: widget server, socket.io, REST (see `bot.settings`).

- `CHAT_RATE_LIMIT`: messages per sender and window on every channel, SMS
  included (`bot.channels.limits`), "MESSAGES/SECONDS", default `20/60`;
- `REST_CHANNEL_TOKEN`: the REST channel's bearer token; outside a local run at
  least 24 characters, and without it the channel is off;
- `WIDGET_ALLOWED_ORIGINS`: the sites (comma-separated) allowed to open a
  socket.io connection; a local run allows the demo page;
- `WIDGET_SESSION_IDLE_MINUTES`: how long an unused widget session stays valid;
- `WIDGET_SERVER_URL`: the Rasa server the demo page's widget connects to
  (default: the page's host name with Rasa's port).

Each channel reads only what it uses (`rate_limit`, `rest`, `allowed_origins`,
`idle_minutes`, `server_url`); `load` reads them all, for the launcher.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import List, Mapping, Optional, Tuple

from bot.settings.core import SettingsError

DEFAULT_RATE_LIMIT = (20, 60.0)
DEFAULT_IDLE_MINUTES = 60
MIN_REST_TOKEN_CHARS = 24
LOCAL_ORIGINS = ("http://localhost:8000", "http://127.0.0.1:8000")
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*")


@dataclass(frozen=True)
class RestSettings:
    """The REST channel's configuration (`APP_ENV`, `REST_CHANNEL_TOKEN`)."""

    token: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class WidgetSettings:
    """The web chat's configuration, all of it (environment variables above)."""

    rate_limit: Tuple[int, float]
    rest: RestSettings
    allowed_origins: Tuple[str, ...]
    idle_minutes: float
    server_url: Optional[str]


def _env(env: Optional[Mapping[str, str]]) -> Mapping[str, str]:
    return os.environ if env is None else env


def _is_local(env: Mapping[str, str]) -> bool:
    return env.get("APP_ENV", "local") == "local"


def rate_limit(env: Optional[Mapping[str, str]] = None) -> Tuple[int, float]:
    """`CHAT_RATE_LIMIT` as (messages, seconds); default 20 per 60 seconds.

    Raises:
        SettingsError: the value is not "N/SECONDS" with N >= 1 and SECONDS > 0.
    """
    raw = _env(env).get("CHAT_RATE_LIMIT", "").strip()
    if not raw:
        return DEFAULT_RATE_LIMIT
    match = _RATE.fullmatch(raw)
    if not match or int(match[1]) < 1 or float(match[2]) <= 0:
        raise SettingsError(
            f'CHAT_RATE_LIMIT must be "MESSAGES/SECONDS", e.g. "20/60", got {raw!r}'
        )
    return int(match[1]), float(match[2])


def rest(env: Optional[Mapping[str, str]] = None) -> RestSettings:
    """The REST channel's token, and whether the channel is on.

    Raises:
        SettingsError: outside a local run, a token shorter than 24 characters.
    """
    env = _env(env)
    token = env.get("REST_CHANNEL_TOKEN", "").strip()
    local = _is_local(env)
    if token and not local and len(token) < MIN_REST_TOKEN_CHARS:
        raise SettingsError(
            f"REST_CHANNEL_TOKEN must be at least {MIN_REST_TOKEN_CHARS} characters"
        )
    return RestSettings(token=token, enabled=bool(token) or local)


def allowed_origins(env: Optional[Mapping[str, str]] = None) -> List[str]:
    """The origins allowed to connect (`WIDGET_ALLOWED_ORIGINS`, comma-separated).

    Returns:
        The origins; the demo page's in a local run when nothing is set.
    """
    env = _env(env)
    raw = env.get("WIDGET_ALLOWED_ORIGINS", "")
    origins = [
        origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()
    ]
    if origins:
        return origins
    return list(LOCAL_ORIGINS) if _is_local(env) else []


def idle_minutes(env: Optional[Mapping[str, str]] = None) -> float:
    """`WIDGET_SESSION_IDLE_MINUTES`: how long an unused session stays valid.

    Raises:
        SettingsError: not a positive number.
    """
    raw = (_env(env).get("WIDGET_SESSION_IDLE_MINUTES") or "").strip()
    if not raw:
        return float(DEFAULT_IDLE_MINUTES)
    try:
        minutes = float(raw)
    except ValueError:
        minutes = 0.0
    if not minutes > 0:
        raise SettingsError(
            f"WIDGET_SESSION_IDLE_MINUTES must be a positive number, got {raw!r}"
        )
    return minutes


def server_url(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """`WIDGET_SERVER_URL`, or None for "the page's host, Rasa's port"."""
    return (_env(env).get("WIDGET_SERVER_URL") or "").strip() or None


def load(env: Optional[Mapping[str, str]] = None) -> WidgetSettings:
    """Reads and validates every web chat setting (default: `os.environ`).

    Raises:
        SettingsError: the first invalid value, by name.
    """
    env = _env(env)
    return WidgetSettings(
        rate_limit=rate_limit(env),
        rest=rest(env),
        allowed_origins=tuple(allowed_origins(env)),
        idle_minutes=idle_minutes(env),
        server_url=server_url(env),
    )
