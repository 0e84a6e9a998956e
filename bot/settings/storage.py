"""Settings of the storage area: retention of the audit log, its pseudonym key.

- `AUDIT_RETENTION_DAYS` (2190, six years): `purge` deletes audit entries older
  than this, however old the conversations they name.
- `AUDIT_PSEUDONYM_KEY`: the key of the keyed hash that stands for a forgotten
  conversation's id in the audit log. Every process that forgets or stores
  conversations must use the same key. Default: a random key kept in
  `var/audit_pseudonym_key`, made on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Optional

from bot.settings.core import positive_int

AUDIT_RETENTION_ENV = "AUDIT_RETENTION_DAYS"
AUDIT_RETENTION_DAYS = 2190  # six years
PSEUDONYM_KEY_ENV = "AUDIT_PSEUDONYM_KEY"


@dataclass(frozen=True)
class StorageSettings:
    """How long audit entries are kept, and the pseudonym key as configured."""

    audit_retention_days: int = AUDIT_RETENTION_DAYS
    pseudonym_key: str = ""  # "": the checkout's own key (bot.settings.local_secret)

    def __repr__(self) -> str:
        # Never print the key (tracebacks, debuggers, logs).
        return f"StorageSettings(audit_retention_days={self.audit_retention_days})"


def load(env: Optional[Mapping[str, str]] = None) -> StorageSettings:
    """Reads and validates this area's variables (default: `os.environ`).

    Raises:
        SettingsError: `AUDIT_RETENTION_DAYS` is not a whole number of at least 1.
    """
    env = os.environ if env is None else env
    return StorageSettings(
        audit_retention_days=positive_int(
            env, AUDIT_RETENTION_ENV, AUDIT_RETENTION_DAYS
        ),
        pseudonym_key=env.get(PSEUDONYM_KEY_ENV, ""),
    )


@lru_cache(maxsize=1)
def get_storage_settings() -> StorageSettings:
    """The process-wide storage settings, read on first use."""
    return load()
