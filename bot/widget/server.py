"""Serves the chat widget and the demo clinic page (`make run`: http://localhost:8000/).

    GET /               the demo page: a plain clinic page with the widget on it
    GET /widget.js      the widget, bundled with the socket.io client from npm
    GET /widget.css     its styles
    GET /article        the clinic's article, which each answer's source links to
    GET /accessibility  the accessibility statement (docs/accessibility.md)
    GET /health         {"status": "ok"}

The socket.io client comes from `node_modules/` (`npm ci`, run by `make install`,
pinned by package-lock.json): nothing is fetched from a CDN, by this server or by
the browser. It is bundled into `/widget.js` inside a function, so the clinic's page
gets no `io` global and one `<script>` tag is enough.

The widget connects to the Rasa server at `WIDGET_SERVER_URL` (`bot.settings.widget`);
by default the demo page uses the host name the browser used for the page with
Rasa's port, so `localhost:8000` talks to `localhost:5005` (an origin the channel
allows). Sanic and Jinja2, like the staff console (and Rasa itself: Sanic).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path
from typing import Optional, Tuple

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import PROJECT_ROOT, SettingsError, get_settings
from bot.settings import widget as widget_settings
from bot.widget import pages

logger = logging.getLogger(__name__)

WIDGET_DIR = Path(__file__).resolve().parent
STATIC_DIR = WIDGET_DIR / "static"
SOCKET_IO_CLIENT = (
    PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
)
APP_NAME = "clinic_widget"
HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class WidgetAssetsMissing(RuntimeError):
    """The socket.io client is not installed (`npm ci` has not run)."""


def bundle(client: Path = SOCKET_IO_CLIENT) -> str:
    """The widget script with the socket.io client, scoped to one function.

    Args:
        client: the socket.io client's minified UMD build.

    Returns:
        JavaScript for `/widget.js`.

    Raises:
        WidgetAssetsMissing: `client` does not exist.
    """
    if not client.is_file():
        raise WidgetAssetsMissing(
            f"{client} is missing: run `make install` (it runs `npm ci`)"
        )
    widget = (STATIC_DIR / "widget.js").read_text(encoding="utf-8")
    # The UMD build assigns module.exports when `module` exists: give it a local one.
    return (
        "(function () {\nvar module = { exports: {} }, exports = module.exports;\n"
        f"{client.read_text(encoding='utf-8')}\n"
        "var io = module.exports;\n"
        f"{widget}\n}}).call(window);\n"
    )


def templates() -> Environment:
    """The Jinja environment of the widget's pages: autoescape, strict names."""
    return Environment(
        loader=FileSystemLoader(str(WIDGET_DIR / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def demo_page(server_url: str, widget_url: str) -> str:
    """The demo clinic page with the widget pointed at `server_url`."""
    return (
        templates()
        .get_template("demo.html")
        .render(server_url=server_url, widget_url=widget_url)
    )


def page_host(host_header: Optional[str]) -> Tuple[str, str]:
    """Host name and ":port" of a request's `Host` header; "localhost" if it is odd.

    The header comes from the browser (or anyone): only a plain host name or IP
    address and a numeric port are used to build URLs; the rest is never echoed.
    """
    name, _, port = (host_header or "").partition(":")
    if not HOST_NAME.fullmatch(name):
        return "localhost", ""
    return name, f":{port}" if port.isdigit() else ""


def create_app(server_url: Optional[str], rasa_port: int) -> Sanic:
    """The web app.

    Args:
        server_url: the Rasa server the widget connects to, or None for "the host
            of this page, port `rasa_port`".
        rasa_port: Rasa's port, for the default `server_url`.

    Returns:
        A Sanic application, ready for `app.run()`.
    """
    script = bundle()
    page = templates().get_template("demo.html")
    app = Sanic(APP_NAME, configure_logging=False)
    app.config.REQUEST_MAX_SIZE = 1024  # GET only: nothing to upload
    app.config.FORWARDED_SECRET = None
    app.config.KEEP_ALIVE_TIMEOUT = 5

    @app.on_response
    async def security_headers(_: Request, answer: HTTPResponse) -> None:
        for name, value in SECURITY_HEADERS.items():
            answer.headers.setdefault(name, value)  # error pages too

    @app.route("/", methods=["GET", "HEAD"])
    async def index(request: Request) -> HTTPResponse:
        host, port = page_host(request.headers.get("host"))
        rasa = server_url or f"{request.scheme}://{host}:{rasa_port}"
        websocket = rasa.replace("http", "ws", 1)
        widget_url = f"{request.scheme}://{host}{port}/widget.js"
        return response.html(
            page.render(server_url=rasa, widget_url=widget_url),
            headers={
                **SECURITY_HEADERS,
                "Content-Security-Policy": (
                    "default-src 'self'; script-src 'self'; style-src 'self'; "
                    f"connect-src 'self' {rasa} {websocket}; img-src 'self' data:; "
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
                ),
            },
        )

    def asset(path: str, body: str, content_type: str) -> None:
        async def handler(_: Request) -> HTTPResponse:
            return response.text(
                body,
                content_type=f"{content_type}; charset=utf-8",
                headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"},
            )

        app.add_route(handler, path, methods=["GET", "HEAD"], name=path.strip("/"))

    asset("/widget.js", script, "application/javascript")
    for name in ("widget.css", "demo.css"):
        asset(f"/{name}", (STATIC_DIR / name).read_text(encoding="utf-8"), "text/css")

    reading = {
        "/article": templates()
        .get_template("article.html")
        .render(page=pages.article_sections()),
        "/accessibility": templates()
        .get_template("accessibility.html")
        .render(blocks=pages.statement_blocks()),
    }
    for path, html in reading.items():

        async def read(_: Request, html: str = html) -> HTTPResponse:
            return response.html(
                html,
                headers={
                    **SECURITY_HEADERS,
                    "Content-Security-Policy": pages.PAGE_POLICY,
                    "Cache-Control": "public, max-age=300",
                },
            )

        app.add_route(read, path, methods=["GET", "HEAD"], name=path.strip("/"))

    @app.route("/health", methods=["GET", "HEAD"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.route("/favicon.ico", methods=["GET", "HEAD"])
    async def favicon(_: Request) -> HTTPResponse:
        return response.empty()

    return app


def main(argv: Optional[list] = None) -> int:
    """Command line: `python -m bot.widget [--port N]` (default WIDGET_PORT)."""
    try:
        settings = get_settings()
        server_url = widget_settings.server_url()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m bot.widget")
    parser.add_argument("--port", type=int, default=settings.widget_port)
    args = parser.parse_args(argv)
    try:
        app = create_app(server_url, settings.rasa_port)
    except WidgetAssetsMissing as error:
        print(str(error), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    # One process (Sanic 21.12's default, workers=1); SIGINT/SIGTERM stop it.
    app.run(host=settings.host, port=args.port, access_log=False, motd=False)
    return 0
