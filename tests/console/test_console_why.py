"""The transcript shows why the bot did what it did (the NLU's routing record)."""

import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from bot.db.summaries import parse_user_event

TEMPLATES = Path(__file__).resolve().parents[2] / "bot" / "console" / "templates"


def stored_user_event(decision: str) -> str:
    return json.dumps(
        {
            "text": "how long does it take to get to the stadium",
            "parse_data": {
                "intent": {"name": "out_of_scope", "confidence": 0.91},
                "routing": {
                    "gate": "off_domain",
                    "domain": {"in_domain": 0.09},
                    "decision": decision,
                },
            },
        }
    )


def test_the_decision_is_read_from_the_stored_event():
    why = "declined: not about the clinic's topic: domain gate (was faq)"
    assert parse_user_event(stored_user_event(why))["why"] == why
    assert parse_user_event(json.dumps({"text": "hi"}))["why"] == ""


def test_the_transcript_template_shows_it_escaped():
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True)
    source = env.loader.get_source(env, "conversation.html")[0]
    assert "m.why" in source
    snippet = env.from_string(
        '{% for m in items %}{% if m.why %}<div class="why">why: '
        '<span class="decision">{{ m.why }}</span></div>{% endif %}{% endfor %}'
    )
    html = snippet.render(items=[parse_user_event(stored_user_event("<b>x</b>"))])
    assert "why: <span" in html and "&lt;b&gt;" in html
