"""Where the project is, and its FAQ catalog as the tests read it."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CATALOG = yaml.safe_load((ROOT / "catalog" / "faq-catalog.yml").read_text())
FAQ_KEYS = sorted(CATALOG["faq"])
PLAIN_INTENTS = sorted(CATALOG["intents"])
