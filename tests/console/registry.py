"""State the console test helpers share, whichever copy of conftest imports it.

pytest may load `tests/console/conftest.py` under another module name than the
test modules import it by; dictionaries kept here are the same object for all.
"""

from __future__ import annotations

from typing import Dict, Tuple

# (console base URL, email) -> the TOTP secret set up through the page.
TOTP_SECRETS: Dict[Tuple[str, str], str] = {}
# console base URL -> its DATABASE_URL, for consoles started by run_console.
DATABASES: Dict[str, str] = {}
# (console base URL, email) -> the last 30 s step whose code a helper used.
LAST_STEP: Dict[Tuple[str, str], int] = {}
