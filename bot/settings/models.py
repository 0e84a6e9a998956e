"""Settings of the model endpoint: where every Rasa worker gets the active model.

- `MODEL_SERVER_URL` (none): the URL Rasa's `models:` endpoint pulls from, the
  staff console's `/model/active` (e.g. `http://127.0.0.1:8080/model/active`).
  Unset, Rasa loads the newest model file at start, as before.
- `MODEL_SERVER_TOKEN`: the secret Rasa sends the console (`Authorization:
  Bearer ...`, never a query parameter, which would end up in logged URLs);
  24+ characters outside a local run, a random one kept in var/ locally.
- `MODEL_PULL_SECONDS` (30, at least 5): how often each worker asks whether the
  active model changed (a 304 answer costs nothing).
- `MODELS_DIR` (var/models, where `make run` trains): the model files the
  console offers to activate (e.g. a directory a training job fills).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional

from bot.settings.core import (
    MODELS_DIR,
    SettingsError,
    optional_secret,
    positive_int,
)

MIN_PULL_SECONDS = 5


@dataclass(frozen=True)
class ModelSettings:
    """Where Rasa pulls the active model from (None: a local file) and how often."""

    server_url: Optional[str]
    token: Optional[str]
    pull_seconds: int = 30
    models_dir: Path = MODELS_DIR

    def __repr__(self) -> str:
        # Never print the token.
        return (
            f"ModelSettings(server_url={self.server_url!r}, "
            f"pull_seconds={self.pull_seconds})"
        )


def load(
    env: Optional[Mapping[str, str]] = None, is_local: bool = True
) -> ModelSettings:
    """Reads and validates the model endpoint's settings (default: `os.environ`).

    Raises:
        SettingsError: `MODEL_SERVER_URL` is not an http(s) URL, it is set
            without `MODEL_SERVER_TOKEN` outside a local run, the token is short,
            or `MODEL_PULL_SECONDS` is not a whole number of at least 5.
    """
    env = os.environ if env is None else env
    url = env.get("MODEL_SERVER_URL", "").strip() or None
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError("MODEL_SERVER_URL must be an http(s) URL")
    # Unset outside a local run: the console's model endpoint answers no one.
    token = optional_secret(env, "MODEL_SERVER_TOKEN", is_local, "model_server_token")
    if url and token is None:
        raise SettingsError(
            "MODEL_SERVER_URL needs MODEL_SERVER_TOKEN outside a local run "
            "(the console's model endpoint answers only with it)"
        )
    seconds = positive_int(env, "MODEL_PULL_SECONDS", 30)
    if seconds < MIN_PULL_SECONDS:
        raise SettingsError(
            f"MODEL_PULL_SECONDS must be at least {MIN_PULL_SECONDS}, got {seconds}"
        )
    folder = env.get("MODELS_DIR", "").strip()
    return ModelSettings(
        server_url=url,
        token=token,
        pull_seconds=seconds,
        models_dir=Path(folder).resolve() if folder else MODELS_DIR,
    )


@lru_cache(maxsize=1)
def get_model_settings() -> ModelSettings:
    """The process-wide model endpoint settings, read on first use."""
    from bot.settings.core import get_settings

    return load(is_local=get_settings().is_local)
