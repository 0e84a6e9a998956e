"""Patient-facing text that is not a dialogue response, one catalog per language.

Dialogue responses live in `domain.yml` (Rasa sends them). What the channels and the
widget server say outside a turn (SMS keyword replies, error pages, notices) lives in
`bot/texts/<language>.yml`, so a second language is a new file, not new code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Dict

import yaml

DEFAULT_LANGUAGE = "en"
_HERE = Path(__file__).resolve().parent


class MissingText(KeyError):
    """A text key is not in the catalog of the language asked for."""


@cache
def catalog(language: str = DEFAULT_LANGUAGE) -> Dict[str, str]:
    """The flat catalog of one language: dotted key -> text."""
    data = yaml.safe_load((_HERE / f"{language}.yml").read_text(encoding="utf-8"))
    flat: Dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = str(node)

    walk("", data or {})
    return flat


def text(key: str, language: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The text for `key` in `language`, with `{name}` placeholders filled in.

    Raises:
        MissingText: the key is not in that language's catalog.
    """
    try:
        template = catalog(language)[key]
    except KeyError:
        raise MissingText(f"no text {key!r} in {language}.yml") from None
    return template.format(**values) if values else template
