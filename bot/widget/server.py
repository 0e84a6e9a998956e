"""Serves the chat widget and the demo clinic page (`make run`: http://localhost:8000/).

    GET /            the demo page: a plain clinic page with the widget on it
    GET /widget.js   the widget, bundled with the socket.io client from npm
    GET /widget.css  its styles
    GET /health      {"status": "ok"}

The socket.io client comes from `node_modules/` (`npm ci`, run by `make install`,
pinned by package-lock.json): nothing is fetched from a CDN, by this server or by
the browser. It is bundled into `/widget.js` inside a function, so the clinic's page
gets no `io` global and one `<script>` tag is enough.

The widget connects to the Rasa server at `WIDGET_SERVER_URL`; by default the demo
page uses the host name the browser used for the page with Rasa's port, so
`localhost:8000` talks to `localhost:5005` (an origin the channel allows).
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import re
import sys
from pathlib import Path
from typing import Optional, Tuple

from aiohttp import web

from bot.settings import PROJECT_ROOT, SettingsError, get_settings

logger = logging.getLogger(__name__)

WIDGET_DIR = Path(__file__).resolve().parent
STATIC_DIR = WIDGET_DIR / "static"
SOCKET_IO_CLIENT = (
    PROJECT_ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
)
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


def demo_page(server_url: str, widget_url: str) -> str:
    """The demo clinic page with the widget pointed at `server_url`."""
    page = (WIDGET_DIR / "templates" / "demo.html").read_text(encoding="utf-8")
    return page.replace("{{ server_url }}", html.escape(server_url)).replace(
        "{{ widget_url }}", html.escape(widget_url)
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


def create_app(server_url: Optional[str], rasa_port: int) -> web.Application:
    """The web app.

    Args:
        server_url: the Rasa server the widget connects to, or None for "the host
            of this page, port `rasa_port`".
        rasa_port: Rasa's port, for the default `server_url`.

    Returns:
        An aiohttp application.
    """
    script = bundle()

    async def index(request: web.Request) -> web.Response:
        host, port = page_host(request.host)
        rasa = server_url or f"{request.scheme}://{host}:{rasa_port}"
        websocket = rasa.replace("http", "ws", 1)
        widget_url = f"{request.scheme}://{host}{port}/widget.js"
        return web.Response(
            text=demo_page(rasa, widget_url),
            content_type="text/html",
            headers={
                **SECURITY_HEADERS,
                "Content-Security-Policy": (
                    "default-src 'self'; script-src 'self'; style-src 'self'; "
                    f"connect-src 'self' {rasa} {websocket}; img-src 'self' data:; "
                    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
                ),
            },
        )

    async def widget_js(_: web.Request) -> web.Response:
        return web.Response(
            text=script,
            content_type="application/javascript",
            headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"},
        )

    def static(name: str, content_type: str):
        body = (STATIC_DIR / name).read_text(encoding="utf-8")

        async def handler(_: web.Request) -> web.Response:
            return web.Response(
                text=body,
                content_type=content_type,
                headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=300"},
            )

        return handler

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=1024)
    app.router.add_get("/", index)
    app.router.add_get("/widget.js", widget_js)
    app.router.add_get("/widget.css", static("widget.css", "text/css"))
    app.router.add_get("/demo.css", static("demo.css", "text/css"))
    app.router.add_get("/health", health)
    app.router.add_get("/favicon.ico", lambda _: web.Response(status=204))
    return app


def main(argv: Optional[list] = None) -> int:
    """Command line: `python -m bot.widget [--port N]` (default WIDGET_PORT)."""
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m bot.widget")
    parser.add_argument("--port", type=int, default=settings.widget_port)
    args = parser.parse_args(argv)
    try:
        app = create_app(os.environ.get("WIDGET_SERVER_URL"), settings.rasa_port)
    except WidgetAssetsMissing as error:
        print(str(error), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host=settings.host, port=args.port, print=None, access_log=None)
    return 0
