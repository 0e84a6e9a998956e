"""The widget server's reading pages, both linked from the demo page.

    GET /article         the clinic's article (`bot.article`), one heading per
                         section with the id each answer's source line links to
    GET /accessibility   docs/accessibility.md, as a page

Both are built from files of this repository and rendered by Jinja with
autoescape: every text is escaped, the Markdown reader below only knows
headings, paragraphs, "- " lists, `code` and **bold**, so no markup of the file
reaches the page as markup. No script runs on either page (their policy says
`script-src 'none'`).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

from markupsafe import Markup, escape

from bot import article
from bot.settings import PROJECT_ROOT

STATEMENT = PROJECT_ROOT / "docs" / "accessibility.md"
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*")


def inline(text: str) -> Markup:
    """One line of Markdown's inline text: `code` and **bold**, the rest escaped."""
    parts: List[str] = []
    last = 0
    for match in _INLINE.finditer(text):
        parts.append(escape(text[last : match.start()]))
        if match.group(1) is not None:
            parts.append(Markup("<code>%s</code>") % match.group(1))
        else:
            parts.append(Markup("<strong>%s</strong>") % match.group(2))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts)


def markdown_blocks(text: str) -> List[Dict[str, Any]]:
    """Headings, paragraphs and lists of a simple Markdown file, for a template.

    Returns:
        `{"kind": "h1"|"h2"|"p", "html": Markup}` or `{"kind": "ul", "items":
        [Markup, ...]}`, in order.
    """
    found: List[Dict[str, Any]] = []
    lines: List[str] = []
    kind = ""

    def close() -> None:
        nonlocal lines, kind
        if lines:
            joined = inline(" ".join(lines))
            if kind == "li":
                if not found or found[-1]["kind"] != "ul":
                    found.append({"kind": "ul", "items": []})
                found[-1]["items"].append(joined)
            else:
                found.append({"kind": kind, "html": joined})
        lines, kind = [], ""

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            close()
        elif line.startswith("## ") or line.startswith("# "):
            close()
            level = "h2" if line.startswith("## ") else "h1"
            found.append({"kind": level, "html": inline(line.lstrip("# ").strip())})
        elif line.startswith("- "):
            close()
            kind, lines = "li", [line[2:]]
        else:
            kind = kind or "p"
            lines.append(line)
    close()
    return found


def statement_blocks() -> List[Dict[str, Any]]:
    """The accessibility statement (`docs/accessibility.md`) as blocks."""
    return markdown_blocks(STATEMENT.read_text(encoding="utf-8"))


def article_sections() -> Dict[str, Any]:
    """The article for its template: title, date, and sections of paragraphs/lists.

    Returns:
        `{"title", "date", "intro": [...], "sections": [{"heading", "anchor",
        "parts": [...]}]}`; a part is `{"kind": "p", "text"}` or `{"kind": "ul",
        "items": [...]}`.
    """
    page: Dict[str, Any] = {"title": "", "date": "", "intro": [], "sections": []}
    parts = page["intro"]
    for block in article.blocks():
        if block.kind in ("title", "date"):
            page[block.kind] = block.text
        elif block.kind == "heading":
            section = {"heading": block.text, "anchor": block.anchor, "parts": []}
            page["sections"].append(section)
            parts = section["parts"]
        elif block.kind == "item":
            if not parts or parts[-1]["kind"] != "ul":
                parts.append({"kind": "ul", "items": []})
            parts[-1]["items"].append(block.text)
        else:
            parts.append({"kind": "p", "text": block.text})
    return page
