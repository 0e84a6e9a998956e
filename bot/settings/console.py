"""Settings of the console area (see `bot.settings`)."""

from __future__ import annotations

from typing import Mapping, Optional


def load(env: Optional[Mapping[str, str]] = None) -> None:
    """Reads and validates this area's variables (default: `os.environ`)."""
    return None
