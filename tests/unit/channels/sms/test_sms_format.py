"""SMS formatting (bot.channels.sms.format): pure functions, no I/O."""

from __future__ import annotations

import pytest
import yaml

from bot.channels.sms.format import (
    MAX_PARTS,
    MAX_SEGMENTS_PER_PART,
    TRUNCATED,
    encoding,
    option_titles,
    pick_option,
    plain_text,
    segment_count,
    sms_bodies,
    split_for_sms,
    with_options,
)
from tests.support.paths import ROOT

YES_NO = [
    {"title": "Yes, contact me", "payload": "/affirm"},
    {"title": "No, thanks", "payload": "/deny"},
]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a" * 160, (1, "GSM-7")),
        ("a" * 161, (2, "GSM-7")),
        ("a" * 306, (2, "GSM-7")),
        ("a" * 307, (3, "GSM-7")),
        ("¡Hola! ¿Qué tal? Ñandú", (1, "UCS-2")),  # ú is not in GSM-7 (ù is)
        ("¡Hola! ¿Que tal? Ñandu", (1, "GSM-7")),
        ("€" * 80, (1, "GSM-7")),  # extension characters count twice
        ("€" * 81, (2, "GSM-7")),
        ("[x]" * 32, (1, "GSM-7")),  # 64 x 2 + 32 = 160 units
        ("[x]" * 33, (2, "GSM-7")),
        ("é" * 160, (1, "GSM-7")),
        ("á" * 70, (1, "UCS-2")),
        ("á" * 71, (2, "UCS-2")),
        ("😀" * 35, (1, "UCS-2")),  # an emoji is two UTF-16 units
        ("😀" * 36, (2, "UCS-2")),
        ("a" * 159 + "😀", (3, "UCS-2")),  # one emoji turns 160 GSM-7 into UCS-2
        ("", (0, "GSM-7")),
    ],
)
def test_segment_count_and_encoding(text, expected):
    assert (segment_count(text), encoding(text)) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("**Bold** and __strong__ text", "Bold and strong text"),
        ("*emphasis* and _this_ too", "emphasis and this too"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("# Heading\nBody", "Heading\nBody"),
        (
            "See [our page](https://clinic.example/faq).",
            "See our page (https://clinic.example/faq).",
        ),
        ("[https://a.example](https://a.example)", "https://a.example"),
        ("![map](https://a.example/m.png)", "map (https://a.example/m.png)"),
        ("* one\n* two", "- one\n- two"),
        ("> quoted", "quoted"),
        ("Use `code` here", "Use code here"),
        ("~~old~~ new", "old new"),
        ("<b>Bold</b><br>next<br/>line", "Bold\nnext\nline"),
        ("<p>One</p><p>Two</p>", "One\nTwo"),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ("<script>alert(1)</script>x", "alert(1)x"),
        ("Fish &amp; chips &lt;3", "Fish & chips <3"),
        ("It\u2019s \u201cfine\u201d \u2014 really\u2026", 'It\'s "fine" - really...'),
        ("¡Hola! ¿Qué tal?", "¡Hola! ¿Qué tal?"),  # ¡ stays ¡ (not @)
        ("Emoji 🙂 stay", "Emoji 🙂 stay"),
        ("a\x00b\x07c", "abc"),
        ("  spaced   out  \n\n\n\nnext ", "spaced out\n\nnext"),
        ("line\r\nbreaks\rtoo", "line\nbreaks\ntoo"),
        (None, ""),
    ],
)
def test_plain_text(text, expected):
    assert plain_text(text) == expected


def test_every_curated_response_is_plain_already():
    """The clinic's own texts pass unchanged (nothing of theirs is stripped)."""
    faq = yaml.safe_load((ROOT / "data/responses/faq.yml").read_text())["responses"]
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]
    for name, variants in {**faq, **domain}.items():
        for variant in variants:
            if "text" in variant:
                assert plain_text(variant["text"]) == variant["text"].strip(), name


def test_options_are_numbered_without_payloads():
    body = with_options("Would you like the clinic to contact you?", YES_NO)
    assert body == (
        "Would you like the clinic to contact you?\n\n"
        "1. Yes, contact me\n2. No, thanks\n\nReply 1 or 2."
    )
    assert "/affirm" not in body


@pytest.mark.parametrize(
    "buttons, hint",
    [
        ([{"title": "Only", "payload": "/x"}], "Reply 1."),
        ([{"title": str(n), "payload": "/x"} for n in range(3)], "Reply 1, 2 or 3."),
    ],
)
def test_option_hint(buttons, hint):
    assert with_options("Pick:", buttons).endswith(hint)


def test_option_titles_are_plain_and_never_empty():
    buttons = [{"title": "**Yes**", "payload": "/a"}, {"payload": "/b"}, {}]
    assert option_titles(buttons) == ["Yes", "/b", "?"]


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("1", "/affirm"),
        (" 2 ", "/deny"),
        ("1.", "/affirm"),
        ("#2", "/deny"),
        ("2)", "/deny"),
        ("3", None),
        ("0", None),
        ("yes, contact me", "/affirm"),
        ("YES CONTACT ME!", "/affirm"),
        ("No thanks", "/deny"),
        ("yes", None),  # not an option's words: Rasa reads it as it is
        ("1 and 2", None),
        ("", None),
        ("!!!", None),
    ],
)
def test_pick_option(reply, expected):
    assert pick_option(reply, YES_NO) == expected


def test_pick_option_without_buttons():
    assert pick_option("1", None) is None
    assert pick_option("1", []) is None


def test_did_you_mean_payloads_are_questions():
    buttons = [
        {"title": "Side effects", "payload": "What are the side effects?"},
        {"title": "Something else", "payload": "Something else"},
    ]
    assert pick_option("1", buttons) == "What are the side effects?"
    assert pick_option("something else", buttons) == "Something else"


def test_short_text_is_one_body_unchanged():
    assert split_for_sms("Hello there.") == ["Hello there."]
    assert split_for_sms("   ") == []


def _sentences(count: int, word: str = "pain") -> str:
    return " ".join(f"Sentence {n} is about {word} relief." for n in range(count))


@pytest.mark.parametrize(
    "text",
    [
        _sentences(30),  # GSM-7
        _sentences(30, "ñandú"),  # ú: UCS-2
        _sentences(12) + "\n\n" + _sentences(12) + "\n\n" + _sentences(5),
        "¡Cuidado! " * 60,
        "🙂" * 150,  # no boundary at all: cut between characters
        "word " * 200,  # no sentence boundary: cut between words
    ],
)
def test_long_text_splits_in_order_within_the_limits(text):
    parts = split_for_sms(text)
    assert 1 < len(parts) <= MAX_PARTS
    for number, part in enumerate(parts, 1):
        assert part.endswith(f" ({number}/{len(parts)})")
        assert segment_count(part) <= MAX_SEGMENTS_PER_PART
    rejoined = " ".join(p.rsplit(" (", 1)[0] for p in parts)
    assert rejoined.split() == text.split() or "🙂" in text
    if "🙂" in text:
        assert "".join(p.rsplit(" (", 1)[0] for p in parts) == text


def test_split_prefers_sentence_boundaries():
    text = _sentences(30)
    for part in split_for_sms(text)[:-1]:
        assert part.rsplit(" (", 1)[0].endswith("relief.")


def test_split_prefers_paragraph_boundaries():
    para = _sentences(5)  # ~170 characters
    parts = split_for_sms("\n\n".join([para] * 4))
    assert [p.rsplit(" (", 1)[0] for p in parts] == [f"{para}\n\n{para}"] * 2


def test_inverted_exclamation_survives_splitting():
    parts = split_for_sms("¡Hola! " * 100)
    assert all("¡" in p and "@" not in p for p in parts)
    assert all(encoding(p) == "GSM-7" for p in parts)


def test_too_long_text_is_cut_and_marked():
    parts = split_for_sms(_sentences(200))
    assert len(parts) == MAX_PARTS
    assert parts[-1].endswith(f"{TRUNCATED} ({MAX_PARTS}/{MAX_PARTS})")
    assert all(segment_count(p) <= MAX_SEGMENTS_PER_PART for p in parts)


def test_staff_reply_of_the_maximum_length_fits_without_truncation():
    from bot.handoff import MAX_REPLY_LENGTH

    parts = split_for_sms(_sentences(100)[:MAX_REPLY_LENGTH])
    assert not any(TRUNCATED in p for p in parts)


def test_sms_bodies_formats_then_splits():
    long_text = _sentences(20)
    bodies = sms_bodies(f"**{long_text}**", YES_NO)
    assert len(bodies) > 1
    assert "**" not in "".join(bodies)
    assert bodies[-1].startswith("1. Yes, contact me\n2. No, thanks") or (
        "1. Yes, contact me" in bodies[-1]
    )
    assert "Reply 1 or 2." in bodies[-1]
