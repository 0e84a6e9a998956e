"""What the query modules share: page size, query-string parsing, LIKE escaping."""

from __future__ import annotations

from datetime import date
from typing import Dict, Optional

PAGE_SIZE = 50


def day_arg(args: Dict[str, str], name: str) -> Optional[date]:
    """A `YYYY-MM-DD` query argument as a date, or None when missing or invalid."""
    try:
        return date.fromisoformat(args.get(name, ""))
    except ValueError:
        return None


def page_arg(args: Dict[str, str]) -> int:
    """The `page` query argument, between 1 and 100,000 (1 when invalid)."""
    try:
        return max(1, min(int(args.get("page", "1")), 100000))
    except ValueError:
        return 1


def like_pattern(text: str) -> str:
    """A case-insensitive `LIKE` pattern for `text` anywhere (escape: backslash)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
