"""The product's settings: every environment variable is read and validated here.

One module per area, each with a frozen dataclass and a `load(env)` that raises
`SettingsError` naming the variable at fault:

- `core`: the processes, ports, database, tokens, clinic hours (`load_settings`).
- `console`: the staff console's secret key, first admin, session limits.
- `widget`: the web chat: widget server, socket.io and REST channels.
- `sms`: the SMS channel (Twilio).
- `storage`: retention and the keyed pseudonyms of the audit log.
- `workers`: how many Rasa workers, and the Redis they share.
- `models`: the model endpoint every Rasa worker pulls the active model from.

`load_all()` reads every area at once: the launcher calls it before any process
starts, so a bad value is reported by name instead of as a child process dying.
No module outside this package reads `os.environ`.
"""

from __future__ import annotations

from typing import Mapping, Optional

from bot.settings.core import (
    MIN_SECRET_CHARS,
    MODELS_DIR,
    PROJECT_ROOT,
    SUPPORTED_DIALECTS,
    VAR_DIR,
    Settings,
    SettingsError,
    get_settings,
    is_loopback,
    load_settings,
    local_secret,
    positive_int,
)

__all__ = [
    "MIN_SECRET_CHARS",
    "MODELS_DIR",
    "PROJECT_ROOT",
    "SUPPORTED_DIALECTS",
    "VAR_DIR",
    "Settings",
    "SettingsError",
    "get_settings",
    "is_loopback",
    "load_all",
    "load_settings",
    "local_secret",
    "positive_int",
]


def load_all(env: Optional[Mapping[str, str]] = None) -> Settings:
    """Reads and validates every area's settings; returns the core settings.

    Raises:
        SettingsError: the first invalid or missing value, by name.
    """
    from bot.settings import console, models, sms, storage, widget, workers

    settings = load_settings(env)
    for area in (console, widget, sms, storage, workers):
        area.load(env)
    models.load(env, is_local=settings.is_local)
    return settings
