"""The action server: rasa-sdk's actions behind a shared secret, on `HOST` only.

`python -m bot.action_server` replaces `python -m rasa_sdk`, whose server listens on
every interface (0.0.0.0), answers anyone, inflates a deflate body without limit and
puts the whole request (the patient's tracker) into its 500 answers. This one keeps
rasa-sdk's protocol (`POST /webhook`, `GET /health`, `GET /actions`) and its
`ActionExecutor`, and changes four things:

- **Where**: it binds `HOST` from `bot.settings` (127.0.0.1 by default).
- **Who**: every call except `GET /health` must carry `Authorization: Bearer
  <ACTION_SERVER_TOKEN>`; the Rasa server sends it (`endpoints.yml`). Without it:
  401, the body is not looked at.
- **How much**: at most `MAX_BODY_BYTES` arrive and at most `MAX_BODY_BYTES` come out
  of a compressed body (`Content-Encoding: deflate` or `gzip`), inflated in one
  bounded step, so a small bomb costs no more than a large honest request: 413.
- **What an error says**: a fixed text and the status, never the request, the
  tracker or an exception's message (which may quote a patient's answer); the log
  gets the action's name, the exception's type and the stack frames only.
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import re
import sys
import traceback
import zlib
from typing import Optional

logger = logging.getLogger("bot.action_server")

ACTIONS_PACKAGE = "actions"
# Rasa sends the domain (~20 KB) and the session's events (measured: ~4.4 KB per
# turn, 40 turns 177 KB). 1 MiB is ~230 turns within one session (it ends after 60
# idle minutes): far beyond a real conversation, and it bounds what a call costs.
MAX_BODY_BYTES = 1024 * 1024
AUTH_SCHEME = "Bearer"
_ACTION_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_ERRORS = {
    400: "Bad request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request body too large",
    415: "Unsupported content encoding",
}


class RequestRefused(Exception):
    """Answer the request with `status` and the fixed text for it."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def inflate(body: bytes, encoding: str, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body as sent before compression, refusing more than `limit` bytes.

    Args:
        body: the raw body.
        encoding: the `Content-Encoding` header ("" when absent).
        limit: the largest body accepted, compressed or not.

    Raises:
        RequestRefused: 413 beyond `limit`, 415 for an unknown encoding, 400 for a
            broken or truncated stream.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise RequestRefused(413)
        return body
    if encoding not in ("deflate", "gzip"):
        raise RequestRefused(415)
    # wbits 32+15: zlib or gzip header, detected (aiohttp's "deflate" is zlib).
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise RequestRefused(400) from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise RequestRefused(413)
    if not inflater.eof:
        raise RequestRefused(400)
    return data


def authorized(header: Optional[str], token: str) -> bool:
    """True if the `Authorization` header carries `token` (constant-time compare)."""
    if not header or not token:
        return False
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != AUTH_SCHEME.lower():
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def _refusal(status: int):
    from sanic import response

    headers = {"WWW-Authenticate": AUTH_SCHEME} if status == 401 else None
    return response.json(
        {"error": _ERRORS.get(status, "Error")}, status=status, headers=headers
    )


def create_app(
    token: str,
    actions_package: str = ACTIONS_PACKAGE,
    max_body_bytes: int = MAX_BODY_BYTES,
):
    """The Sanic app: rasa-sdk's executor and routes, hardened as described above.

    Args:
        token: the shared secret every call but `GET /health` must present.
        actions_package: the package whose `Action` classes are registered.
        max_body_bytes: the largest request body, before and after inflating.
    """
    from rasa_sdk import utils as sdk_utils
    from rasa_sdk.executor import ActionExecutor
    from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException
    from sanic import Sanic, response
    from sanic.exceptions import SanicException

    if not token:
        raise ValueError("the action server needs a token")
    app = Sanic("clinic_actions", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = max_body_bytes
    app.config.FALLBACK_ERROR_FORMAT = "json"
    executor = ActionExecutor()
    executor.register_package(actions_package)

    @app.on_request
    async def require_token(request):
        if request.method == "GET" and request.path == "/health":
            return None
        if not authorized(request.headers.get("authorization"), token):
            return _refusal(401)
        return None

    @app.get("/health")
    async def health(_request):
        return response.json({"status": "ok"})

    @app.get("/actions")
    async def actions(_request):
        return response.json([{"name": name} for name in executor.actions])

    @app.post("/webhook")
    async def webhook(request):
        body = inflate(
            request.body or b"",
            request.headers.get("content-encoding", ""),
            max_body_bytes,
        )
        try:
            action_call = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise RequestRefused(400) from None
        if not isinstance(action_call, dict) or not isinstance(
            action_call.get("tracker"), dict
        ):
            raise RequestRefused(400)
        sdk_utils.check_version_compatibility(action_call.get("version"))
        name = action_call.get("next_action")
        if not isinstance(name, str) or not _ACTION_NAME.fullmatch(name):
            raise RequestRefused(400)
        try:
            result = await executor.run(action_call)
        except ActionExecutionRejection:
            # Rasa reads `action_name` from a 400 to try another action; the
            # action's own message may quote the patient, so it stays here.
            logger.info("Action %s rejected execution", name)
            return response.json(
                {"error": "Action rejected execution", "action_name": name},
                status=400,
            )
        except ActionNotFoundException:
            logger.error("No action named %s", name)
            return response.json(
                {"error": "No such action", "action_name": name}, status=404
            )
        return response.json(result)

    @app.exception(Exception)
    async def on_error(request, exception: Exception):
        if isinstance(exception, RequestRefused):
            return _refusal(exception.status)
        if isinstance(exception, SanicException):
            status = getattr(exception, "status_code", 500) or 500
            if status < 500:
                return _refusal(status)
        frames = "".join(traceback.format_tb(exception.__traceback__))
        logger.error(
            "Action server error on %s %s: %s (message withheld: it may carry "
            "patient data)\n%s",
            request.method if request else "?",
            request.path if request else "?",
            type(exception).__name__,
            frames,
        )
        return response.json({"error": "Internal error"}, status=500)

    return app


def _arguments(argv: Optional[list]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot.action_server",
        description="The clinic's action server (rasa-sdk, token auth, HOST only).",
    )
    parser.add_argument("--actions", default=ACTIONS_PACKAGE)
    parser.add_argument(
        "--port", type=int, default=None, help="default: ACTION_PORT (5055)"
    )
    return parser.parse_args(argv)


def main(argv: Optional[list] = None) -> int:
    """Reads the settings and serves until SIGINT/SIGTERM."""
    from bot.settings import SettingsError, get_settings

    args = _arguments(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    if not settings.action_server_token:
        print(
            "Configuration error: ACTION_SERVER_TOKEN is required outside a local "
            "run (the secret the Rasa server sends; 24+ characters)",
            file=sys.stderr,
        )
        return 2
    from rasa_sdk import utils as sdk_utils

    sdk_utils.configure_colored_logging("INFO")
    sdk_utils.update_sanic_log_level()
    port = args.port or settings.action_port
    app = create_app(settings.action_server_token, args.actions)
    logger.info("Action server on http://%s:%s (token required)", settings.host, port)
    app.run(
        host=settings.host,
        port=port,
        workers=settings.workers,  # stateless: any worker takes any call
        access_log=False,
        motd=False,
        debug=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
