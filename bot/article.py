"""The clinic's article (`catalog/source/`), which every curated answer comes from.

The source is plain text: a date, the title, then sections, each a heading line
followed by paragraphs and "- " list items. `blocks()` reads it for the widget
server's `/article` page; `anchor_for()` turns an answer's recorded source
section (`source_section` in `data/responses/faq.yml`, e.g. "Benefits, Rapid
Onset of Action") into the id of its section's heading on that page, so the
widget's "From the clinic's article" line can link straight to it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import List, NamedTuple, Optional, Tuple

import yaml

from bot.settings import PROJECT_ROOT

CATALOG = PROJECT_ROOT / "catalog" / "faq-catalog.yml"
# A heading: a short line that does not end like a sentence or a list's lead-in.
_SENTENCE_END = (".", ":", "!", "?", ";", ",")
_MAX_HEADING_CHARS = 90


class Block(NamedTuple):
    """One piece of the article: `kind` is date, title, heading, paragraph or item."""

    kind: str
    text: str
    anchor: str = ""  # headings only: the id of the heading on the article page


def slug(text: str) -> str:
    """An id for a heading: lowercase ASCII words joined by hyphens."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())) or "section"


def parse(text: str) -> Tuple[Block, ...]:
    """The blocks of an article's plain text (see the module's docstring)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found: List[Block] = []
    for number, line in enumerate(lines):
        if number == 0 and re.search(r"\d{4}$", line):
            found.append(Block("date", line))
        elif not any(b.kind == "title" for b in found):
            found.append(Block("title", line))
        elif line.startswith("- "):
            found.append(Block("item", line[2:].strip()))
        elif len(line) <= _MAX_HEADING_CHARS and not line.endswith(_SENTENCE_END):
            found.append(Block("heading", line, slug(line)))
        else:
            found.append(Block("paragraph", line))
    return tuple(found)


@lru_cache(maxsize=1)
def blocks() -> Tuple[Block, ...]:
    """The clinic's article (the catalog's `source`), read once."""
    catalog = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    source = CATALOG.parent / str(catalog["source"])
    return parse(source.read_text(encoding="utf-8"))


def section_name(source_section: str) -> str:
    """The section an answer's source names: "Benefits, Rapid Onset…" -> "Benefits"."""
    return re.split(r",|;|\s\(", source_section, maxsplit=1)[0].strip()


def anchor_for(source_section: str) -> Optional[str]:
    """The id of the heading of the section an answer comes from, None if unknown."""
    name = section_name(source_section).lower()
    if not name:
        return None
    for block in blocks():
        if block.kind == "heading" and block.text.lower().startswith(name):
            return block.anchor
    return None
