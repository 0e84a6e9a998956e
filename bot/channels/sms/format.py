r"""How a bot reply looks as SMS: plain text, numbered options, a few segments.

The one place that turns a Rasa message into SMS bodies (pure functions, no I/O):

- `plain_text` removes Markdown and HTML (links keep their address), turns
  typographic punctuation into its plain equivalent so a reply stays in the GSM-7
  alphabet (160 characters a segment instead of 70), and keeps every other
  character, `¡`, `¿`, accents and emoji included (Rasa's own Twilio channel turns
  `¡` into `@`).
- `with_options` lists buttons as numbered options ("1. Yes") that the patient
  answers with "1", "2" or the option's words (`pick_option`); payloads such as
  `/affirm` never reach the patient.
- `split_for_sms` splits a long reply on paragraph, line, then sentence
  boundaries (words and characters only for a sentence that alone is too long)
  into parts of at most `MAX_SEGMENTS_PER_PART` SMS segments each, numbered
  "(1/2)" so they read in order even if the network delivers them out of order,
  and at most `MAX_PARTS` parts.

Segments are counted as the network does (3GPP TS 23.038): GSM-7 text fits 160
characters in one segment or 153 per segment of a longer message, where the
extension characters (`€ [ ] { } ^ ~ | \`) count twice; anything else is UCS-2
with 70 UTF-16 code units in one segment or 67 per segment, so an emoji counts twice.
"""

from __future__ import annotations

import html
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

MAX_SEGMENTS_PER_PART = 3  # 459 GSM-7 or 201 UCS-2 characters in one SMS
MAX_PARTS = 6
TRUNCATED = " [...]"
# Reserved in every part of a split reply: " (9/9)".
_COUNTER_RESERVE = " (9/9)"

# Typographic characters that push a whole message out of GSM-7.
_PLAIN_PUNCTUATION = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u2022": "-",
        "\u00a0": " ",
        "\u2009": " ",
        "\u200b": "",
        "\ufeff": "",
        "\t": " ",
    }
)
# Every pattern below runs in linear time on any input (no two quantifiers can
# share the same characters, and every repeated class stops at the character that
# ends it), so crafted text cannot stall the server: see test_sms_format.py, which
# times them on 1,600-character runs of '*', '_', '[', '(', '<' and the like.
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/h[1-6])\s*(?:/\s*)?>", re.IGNORECASE)
_HTML_ITEM = re.compile(r"<\s*li(?:\s[^<>]*)?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_MD_IMAGE = re.compile(r"!\[([^\[\]\n]*)\]\(([^()\s]+)(?:[ \t]+[^()\n]*)?\)")
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^()\s]+)(?:[ \t]+[^()\n]*)?\)")
_MD_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_MD_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE)
_MD_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+", re.MULTILINE)
_MD_RULE = re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_MD_FENCE = re.compile(r"^[ \t]*```[^\n]*$", re.MULTILINE)
_MD_CODE = re.compile(r"`([^`\n]+)`")
_MD_STRONG_STAR = re.compile(r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*")
_MD_STRONG_UNDERSCORE = re.compile(r"(?<!\w)__(?=\S)([^_\n]+?)(?<=\S)__(?!\w)")
_MD_EMPHASIS_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_MD_EMPHASIS_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_MD_STRIKE = re.compile(r"~~(?=\S)([^~\n]+?)(?<=\S)~~")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"[ ]{2,}")
_BLANK_LINES = re.compile(r"\n{3,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_OPTION_NUMBER = re.compile(r"#?\s*(\d{1,2})\s*[.):]?")
_WORDS = re.compile(r"[\W_]+")


_GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 alphabet."""
    return _GSM7_ALL.issuperset(text)


def encoding(text: str) -> str:
    """Which alphabet the network will use for `text`: "GSM-7" or "UCS-2"."""
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def _units(text: str) -> tuple[int, int, int]:
    """Length in the encoding's units, and its single/multi segment sizes."""
    if is_gsm7(text):
        extension = sum(map(text.count, GSM7_EXTENSION))
        return len(text) + extension, GSM7_SINGLE, GSM7_MULTI
    return len(text.encode("utf-16-le")) // 2, UCS2_SINGLE, UCS2_MULTI


def segment_count(text: str) -> int:
    """How many SMS segments `text` takes (0 for an empty text)."""
    length, single, multi = _units(text)
    if length == 0:
        return 0
    if length <= single:
        return 1
    return -(-length // multi)


def _without_comments(text: str) -> str:
    """`text` without HTML comments (`<!-- ... -->`), found in one pass."""
    kept, position = [], 0
    while True:
        start = text.find("<!--", position)
        end = text.find("-->", start + 4) if start >= 0 else -1
        if end < 0:  # no (closed) comment from here on
            kept.append(text[position:])
            return "".join(kept)
        kept.append(text[position:start])
        position = end + 3


def plain_text(text: Optional[str], markdown: bool = True) -> str:
    """`text` in characters an SMS shows well, without Markdown or HTML.

    Args:
        text: the message.
        markdown: remove Markdown and HTML; only for text the clinic wrote (the
            bot's responses, staff replies). With False, text a patient typed is
            kept as typed: only control characters, typographic punctuation and
            extra spaces are cleaned.
    """
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if markdown:
        text = _without_markup(text)
    text = text.translate(_PLAIN_PUNCTUATION)
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _without_markup(text: str) -> str:
    text = _without_comments(text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_ITEM.sub("- ", text)
    text = _HTML_TAG.sub("", text)
    text = html.unescape(text)
    text = _MD_IMAGE.sub(lambda m: f"{m[1]} ({m[2]})" if m[1] else m[2], text)
    text = _MD_LINK.sub(
        lambda m: m[1] if m[1].strip() == m[2] else f"{m[1]} ({m[2]})", text
    )
    text = _MD_FENCE.sub("", text)
    text = _MD_RULE.sub("", text)
    text = _MD_HEADING.sub("", text)
    text = _MD_QUOTE.sub("", text)
    text = _MD_BULLET.sub(r"\1- ", text)
    text = _MD_CODE.sub(r"\1", text)
    text = _MD_STRONG_STAR.sub(r"\1", text)
    text = _MD_STRONG_UNDERSCORE.sub(r"\1", text)
    text = _MD_STRIKE.sub(r"\1", text)
    text = _MD_EMPHASIS_STAR.sub(r"\1", text)
    return _MD_EMPHASIS_UNDERSCORE.sub(r"\1", text)


def option_titles(buttons: Optional[Iterable[Dict[str, Any]]]) -> List[str]:
    """The plain-text titles of Rasa buttons (or quick replies), in order."""
    titles = []
    for button in buttons or []:
        title = plain_text(str(button.get("title") or button.get("payload") or ""))
        titles.append(title or "?")
    return titles


def _or_list(numbers: Sequence[str]) -> str:
    if len(numbers) == 1:
        return numbers[0]
    return f"{', '.join(numbers[:-1])} or {numbers[-1]}"


def with_options(
    text: Optional[str], buttons: Optional[Sequence[Dict]], markdown: bool = True
) -> str:
    """The reply with its buttons as numbered options and how to answer them.

    `markdown`: see `plain_text` (button titles are always the clinic's).
    """
    body = plain_text(text, markdown)
    titles = option_titles(buttons)
    if not titles:
        return body
    options = "\n".join(f"{number}. {title}" for number, title in enumerate(titles, 1))
    hint = f"Reply {_or_list([str(n) for n in range(1, len(titles) + 1)])}."
    return "\n\n".join(part for part in (body, options, hint) if part)


def _words(text: str) -> str:
    return _WORDS.sub(" ", text.casefold()).strip()


def pick_option(
    reply: str, buttons: Optional[Sequence[Dict[str, Any]]]
) -> Optional[str]:
    """The payload of the option the patient's `reply` picks, or None.

    A reply picks an option by its number ("1", "1.", "#2", " 3) ") or by the
    option's words, ignoring case, spaces and punctuation ("yes, contact me!").
    """
    if not buttons or not reply:
        return None
    number = _OPTION_NUMBER.fullmatch(reply.strip())
    if number:
        index = int(number[1]) - 1
        if 0 <= index < len(buttons):
            return str(buttons[index].get("payload") or "") or None
        return None
    # The reply is the patient's: compared word by word, never run through the
    # Markdown patterns (which are for the clinic's own texts).
    wanted = _words(plain_text(reply, markdown=False))
    if not wanted:
        return None
    for button, title in zip(buttons, option_titles(buttons), strict=True):
        if _words(title) == wanted:
            return str(button.get("payload") or "") or None
    return None


def _fits(text: str, max_segments: int) -> bool:
    return segment_count(text) <= max_segments


def _pieces(text: str, level: int) -> List[str]:
    """`text` cut at one kind of boundary, each piece keeping its separator."""
    if level == 0:
        return re.split(r"(?<=\n\n)", text)
    if level == 1:
        return re.split(r"(?<=\n)", text)
    if level == 2:
        cuts = [0, *(m.end() for m in _SENTENCE_END.finditer(text)), len(text)]
        return [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if b > a]
    if level == 3:
        return re.split(r"(?<= )", text)
    return list(text)


def _longest_fitting(text: str, fits: Callable[[str], bool]) -> int:
    """The length of the longest prefix of `text` that `fits` (binary search).

    A longer prefix never takes fewer segments, so the search is exact.
    """
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle]):
            low = middle
        else:
            high = middle - 1
    return low


def _cut_characters(text: str, max_segments: int) -> List[str]:
    """`text` cut between characters into the longest parts that fit."""
    parts: List[str] = []
    while text.strip():
        length = _longest_fitting(
            text, lambda p: _fits(p.strip() + _COUNTER_RESERVE, max_segments)
        )
        length = max(length, 1)  # a character that never fits goes alone
        if text[:length].strip():
            parts.append(text[:length].strip())
        text = text[length:]
    return parts


def _pack(text: str, max_segments: int, level: int = 0) -> List[str]:
    """Greedy packing of the coarsest pieces that fit, finer ones where needed."""
    if level >= 4:
        return _cut_characters(text, max_segments)
    parts: List[str] = []
    current = ""
    for piece in _pieces(text, level):
        if _fits((current + piece).strip() + _COUNTER_RESERVE, max_segments):
            current += piece
            continue
        if current.strip():
            parts.append(current.strip())
        current = ""
        if _fits(piece.strip() + _COUNTER_RESERVE, max_segments):
            current = piece
        else:
            finer = _pack(piece, max_segments, level + 1)
            parts.extend(finer[:-1])
            current = finer[-1] if finer else ""
    if current.strip():
        parts.append(current.strip())
    return parts


def _truncate(part: str, max_segments: int) -> str:
    length = _longest_fitting(
        part, lambda p: _fits(p + TRUNCATED + _COUNTER_RESERVE, max_segments)
    )
    return part[:length].rstrip() + TRUNCATED


def split_for_sms(
    text: str,
    max_segments: int = MAX_SEGMENTS_PER_PART,
    max_parts: int = MAX_PARTS,
) -> List[str]:
    """The SMS bodies for one reply, in order.

    Args:
        text: the reply, already plain (see `plain_text`, `with_options`).
        max_segments: the most segments one body may take.
        max_parts: the most bodies; a longer reply is cut at the end of the last
            one, marked with " [...]".

    Returns:
        The bodies (none for an empty text). A reply that fits in one body is
        returned as it is; a split one gets "(1/3)"-style counters.
    """
    text = text.strip()
    if not text:
        return []
    if _fits(text, max_segments):
        return [text]
    parts = _pack(text, max_segments)
    if len(parts) > max_parts:
        parts = parts[:max_parts]
        parts[-1] = _truncate(parts[-1], max_segments)
    total = len(parts)
    return [f"{part} ({number}/{total})" for number, part in enumerate(parts, 1)]


def sms_bodies(
    text: Optional[str],
    buttons: Optional[Sequence[Dict[str, Any]]] = None,
    markdown: bool = True,
) -> List[str]:
    """The SMS bodies of one bot message: plain text, numbered options, split.

    `markdown`: see `plain_text`; pass False for a message that carries text a
    patient typed.
    """
    return split_for_sms(with_options(text, buttons, markdown))
