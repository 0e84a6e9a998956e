"""The Answers page over real HTTP against a running console (seeded SQLite).

A patient's "Not helpful" with a reason, written to `answer_feedback` as the
widget does, shows in the figures of its answer key and, on the key's page, with
a link to its transcript; that view is audited; hostile reasons stay text; the
reason never reaches the console's log. Every signed-in staff member sees the page.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from bot.db.engine import session_scope
from bot.db.models import VOTE_HELPFUL, VOTE_NOT_HELPFUL, AnswerFeedback, AuditEntry
from tests.support.console import ADMIN, STAFF, http_sign_in
from tests.support.seed import XSS_SCRIPT

REASON = "It never said whether I can drive home afterwards"
AUDIT = AuditEntry.__table__


def vote(console, conversation_id, answer_id, key, value, reason=None):
    with session_scope(console.engine) as session:
        session.add(
            AnswerFeedback(
                conversation_id=conversation_id,
                answer_id=answer_id,
                answer_key=key,
                vote=value,
                reason=reason,
            )
        )


@pytest.fixture(scope="module")
def rated(console):
    """Votes on the seeded conversations (rest-safety got two answers)."""
    vote(console, "rest-safety", "4", "is_it_safe", VOTE_NOT_HELPFUL, REASON)
    vote(console, "rest-safety", "9", "relief_duration", VOTE_HELPFUL)
    vote(console, "+15551234567", "4", "side_effects", VOTE_NOT_HELPFUL, XSS_SCRIPT)
    return console


def row_of(html: str, key: str) -> str:
    match = re.search(rf'<tr data-key="{key}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {key}"
    return match.group(1)


def cell(row: str, name: str) -> str:
    return re.search(rf'class="{name}">([^<]*)<', row).group(1).strip()


@pytest.mark.parametrize("account", [ADMIN, STAFF])
def test_not_helpful_with_a_reason_shows_in_its_keys_figures(rated, account):
    session = http_sign_in(rated.url, account)
    response = session.get(rated.url + "/answers")
    assert response.status_code == 200
    html = response.text
    assert 'href="/answers" class="current">Answers</a>' in html
    safe = row_of(html, "is_it_safe")
    assert cell(safe, "given") == "1"
    assert cell(safe, "helpful") == "0"
    assert cell(safe, "not-helpful") == "1"
    assert "1 with a reason" in safe
    assert cell(safe, "helpful-rate") == "0%"
    relief = row_of(html, "relief_duration")
    assert cell(relief, "helpful-rate") == "100%"
    # The seeded day has no handoff after an answer; 2 of 6 conversations had
    # a handoff (rest-crisis, rest-human).
    assert cell(safe, "then-human") == "0 (0%)"
    assert "67%" in re.search(r'id="resolved-share">(.*?)</li>', html, re.S).group(1)
    assert "4 of 6 conversations" in html
    handoffs = re.search(r'href="(/conversations\?outcome=handoff[^"]*)"', html)
    listing = session.get(rated.url + handoffs.group(1).replace("&amp;", "&")).text
    assert "2 conversations" in listing  # rest-crisis and rest-human
    assert html.count('<figure class="chart">') == 3
    assert 'aria-label="Helpful rate (share of votes): is_it_safe: 0%' in html


def test_the_keys_page_lists_the_reason_with_a_link_to_its_transcript(rated):
    session = http_sign_in(rated.url, STAFF)
    before = _audit(rated, object_type="answer feedback")
    html = session.get(rated.url + "/answers/view?key=is_it_safe").text
    reasons = re.search(r'id="reason-list">(.*?)</table>', html, re.S).group(1)
    assert REASON in reasons
    assert 'href="/conversations/view?id=rest-safety"' in reasons
    transcript = session.get(rated.url + "/conversations/view?id=rest-safety")
    assert transcript.status_code == 200 and "is ketamine therapy safe?" in (
        transcript.text
    )
    views = _audit(rated, object_type="answer feedback")
    assert len(views) == len(before) + 1
    assert (views[-1]["user_email"], views[-1]["action"], views[-1]["object_id"]) == (
        STAFF[0],
        "view",
        "is_it_safe",
    )
    # The reason is health data: never in the console's log.
    log = "".join(p.read_text() for p in rated.log.glob("*.log"))
    assert REASON not in log


def test_hostile_reasons_are_text_and_phone_numbers_are_masked(rated):
    session = http_sign_in(rated.url, ADMIN)
    html = session.get(rated.url + "/answers/view?key=side_effects").text
    assert "<script>window" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;hello" in html
    assert "+1******4567" in html and "+15551234567" not in html.replace(
        quote("+15551234567"), ""
    )
    assert 'href="/conversations/view?id=%2B15551234567"' in html


def test_a_key_without_votes_or_answers_and_unknown_keys(rated):
    session = http_sign_in(rated.url, STAFF)
    quiet = session.get(rated.url + "/answers/view?key=what_is_ketamine")
    assert quiet.status_code == 200
    assert 'No "Not helpful" vote on this answer' in quiet.text
    unknown = session.get(rated.url + "/answers/view?key=" + quote("<b>nope</b>"))
    assert unknown.status_code == 404 and "<b>nope" not in unknown.text
    # Keys never given are listed apart on the page.
    html = session.get(rated.url + "/answers?period=7").text
    assert "what_is_ketamine" in re.search(r'id="never-given">(.*?)</p>', html).group(1)
    # An unknown period is the default one, never an error.
    assert session.get(rated.url + "/answers?period=x%27").status_code == 200


def _audit(console, **where) -> list:
    with console.engine.connect() as connection:
        return (
            connection.execute(
                AUDIT.select()
                .where(*(AUDIT.c[k] == v for k, v in where.items()))
                .order_by(AUDIT.c.id)
            )
            .mappings()
            .all()
        )
