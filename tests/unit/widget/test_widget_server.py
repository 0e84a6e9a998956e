"""The widget server (bot.widget.server) as a real process: routes, headers, CSP.

The browser tests (tests/browser/test_widget.py) use the page; these check what the
server sends, without Rasa.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from tests.support.net import free_port
from tests.support.servers import Command, started

SERVER_URL = "https://rasa.clinic.example"


def fetch(url: str, method: str = "GET", host: str = ""):
    """(status, headers, body) of one request."""
    request = urllib.request.Request(url, method=method)
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


@contextmanager
def run_widget_server(extra_env, log_path):
    """`python -m bot.widget` on a free port; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "local",
        "HOST": "127.0.0.1",
        "RASA_PORT": "5005",
        **extra_env,
    }
    command = Command(
        name="widget server",
        argv=[sys.executable, "-m", "bot.widget", "--port", str(port)],
        env=env,
        log_path=log_path,
        health_url=f"http://127.0.0.1:{port}/health",
        stop_seconds=10,
    )
    with started(command):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def widget_server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("widget") / "widget_server.log"
    with run_widget_server({"WIDGET_SERVER_URL": SERVER_URL}, log_path) as base:
        yield base


@pytest.fixture(scope="module")
def default_widget_server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("widget") / "widget_server.log"
    with run_widget_server({"WIDGET_SERVER_URL": ""}, log_path) as base:
        yield base


def test_demo_page_points_the_widget_at_the_server_and_sets_a_strict_policy(
    widget_server,
):
    status, headers, page = fetch(widget_server + "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Content-Security-Policy"] == (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"connect-src 'self' {SERVER_URL} wss://rasa.clinic.example; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )
    assert f'<script src="/widget.js" defer data-server-url="{SERVER_URL}"' in page
    assert page.endswith("</html>\n")


def test_by_default_the_widget_talks_to_rasa_on_the_pages_host(default_widget_server):
    status, headers, page = fetch(default_widget_server + "/", host="localhost:8000")
    assert status == 200
    assert 'data-server-url="http://localhost:5005"' in page
    assert (
        "connect-src 'self' http://localhost:5005 ws://localhost:5005;"
        in (headers["Content-Security-Policy"])
    )
    assert "http://localhost:8000/widget.js" in page


def test_a_hostile_host_header_is_never_echoed(default_widget_server):
    hostile = 'evil.example"><script>alert(1)</script>'
    status, headers, page = fetch(default_widget_server + "/", host=hostile)
    assert status in (200, 400)
    assert "<script>alert" not in page and "evil.example" not in page
    assert "evil.example" not in headers.get("Content-Security-Policy", "")


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/widget.js", "application/javascript; charset=utf-8"),
        ("/widget.css", "text/css; charset=utf-8"),
        ("/demo.css", "text/css; charset=utf-8"),
    ],
)
def test_assets_are_served_with_their_type_and_a_short_cache(
    widget_server, path, content_type
):
    status, headers, body = fetch(widget_server + path)
    assert status == 200 and headers["Content-Type"] == content_type
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body


def test_health_favicon_head_and_the_rest(widget_server):
    status, _, body = fetch(widget_server + "/health")
    assert status == 200 and body.replace(" ", "") == '{"status":"ok"}'
    assert fetch(widget_server + "/favicon.ico")[0] == 204
    status, headers, body = fetch(widget_server + "/", method="HEAD")
    assert status == 200 and body == "" and "Content-Security-Policy" in headers
    assert fetch(widget_server + "/nope")[0] == 404
    assert fetch(widget_server + "/", method="POST")[0] == 405


def test_the_demo_page_links_to_the_article_and_the_accessibility_statement(
    widget_server,
):
    _, _, page = fetch(widget_server + "/")
    assert 'href="/article"' in page and 'href="/accessibility"' in page


def test_the_article_page_has_every_section_with_the_id_answers_link_to(
    widget_server,
):
    from bot.article import anchor_for, blocks

    status, headers, page = fetch(widget_server + "/article")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"].startswith("default-src 'none';")
    assert "script-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "<h1>The Power of Ketamine Therapy" in page
    for block in blocks():
        if block.kind == "heading":
            assert f'<h2 id="{block.anchor}" tabindex="-1">{block.text}</h2>' in page
    assert anchor_for("Benefits, Rapid Onset of Action") in page
    assert "<li>Nausea and vomiting</li>" in page
    # The article's own typography comes through as text, escaped where needed.
    assert "individual’s quality of life" in page
    assert "<script" not in page


def test_the_accessibility_page_is_the_statement_in_the_repository(widget_server):
    from tests.support.paths import ROOT

    status, headers, page = fetch(widget_server + "/accessibility")
    assert status == 200 and "script-src 'none'" in headers["Content-Security-Policy"]
    statement = (ROOT / "docs" / "accessibility.md").read_text()
    assert "WCAG 2.2" in statement and "## Known limits" in statement
    assert "<h1>Accessibility statement</h1>" in page
    assert "<h2>Known limits</h2>" in page and "<h2>Report a problem</h2>" in page
    assert "<strong>WCAG 2.2, level AA</strong>" in page
    assert "<code>WIDGET_SESSION_IDLE_MINUTES</code>" in page


def test_the_statement_reader_escapes_markup():
    from bot.widget.pages import markdown_blocks

    blocks = markdown_blocks(
        "# Title <b>\n\nA **bold** and `<script>` line\ncontinued.\n\n- one\n- two"
        " & <img src=x onerror=alert(1)>\n"
    )
    assert [b["kind"] for b in blocks] == ["h1", "p", "ul"]
    assert str(blocks[0]["html"]) == "Title &lt;b&gt;"
    assert str(blocks[1]["html"]) == (
        "A <strong>bold</strong> and <code>&lt;script&gt;</code> line continued."
    )
    assert [str(item) for item in blocks[2]["items"]] == [
        "one",
        "two &amp; &lt;img src=x onerror=alert(1)&gt;",
    ]
