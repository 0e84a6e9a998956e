"""The website widget's channel: Rasa's socket.io channel, made safe to rely on.

Rasa 3.6's `SocketIOInput` has three problems in front of patients, fixed here in a
subclass, configured in `credentials.yml` as
`bot.channels.socketio.ClinicSocketIOInput`:

- With `session_persistence: true` it never delivers a reply: the installed
  python-socketio made `AsyncServer.enter_room` a coroutine, which Rasa calls without
  `await`, so the socket never joins its session's room. Here it is awaited.
- A reloaded page or a dropped connection starts from nothing. Here the widget asks
  for its session again (`session_request` with the id it kept) and gets the
  conversation so far from the tracker store (`history` event), staff replies
  included.
- Any payload is taken as it comes. Here the session id must look like one the
  server handed out (32 hex characters), the message must be text of at most
  `MAX_MESSAGE_CHARS`; anything else gets a plain answer (`chat_error` event),
  never a crash and never a half-stored message.

The channel keeps Rasa's name, `socketio`, and its events (`user_uttered`,
`bot_uttered`, `session_request`, `session_confirm`), so Rasa's own tools and the
handoff service (`output_channel=latest`) work unchanged.

Cross-origin: the widget is served by another origin (the clinic's site, or the
demo page on :8000); `WIDGET_ALLOWED_ORIGINS` (comma-separated) lists the sites
allowed to open a connection. A local run allows the demo page.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.trackers import EventVerbosity
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

logger = logging.getLogger(__name__)

# The widget limits a message to 1000 characters (what the NLU reads, see
# bot.nlu.components.InputGuard); a longer one did not come from the widget.
MAX_MESSAGE_CHARS = 4000
HISTORY_LIMIT = 100  # messages replayed after a reload
SESSION_ID = re.compile(r"[0-9a-f]{32}")
LOCAL_ORIGINS = ("http://localhost:8000", "http://127.0.0.1:8000")

TOO_LONG = (
    "That message is too long for me to read. Could you ask it in a few sentences?"
)
NO_SESSION = "The chat lost its connection details. Please reload the page."


def allowed_origins(env: Optional[Dict[str, str]] = None) -> List[str]:
    """The origins allowed to connect (`WIDGET_ALLOWED_ORIGINS`, comma-separated).

    Args:
        env: the environment; default `os.environ`.

    Returns:
        The origins; the demo page's in a local run when nothing is set.
    """
    env = os.environ if env is None else env
    raw = env.get("WIDGET_ALLOWED_ORIGINS", "")
    origins = [
        origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip()
    ]
    if origins:
        return origins
    return list(LOCAL_ORIGINS) if env.get("APP_ENV", "local") == "local" else []


def is_session_id(value: Any) -> bool:
    """True for a session id this channel hands out (32 lowercase hex characters)."""
    return isinstance(value, str) and SESSION_ID.fullmatch(value) is not None


def staff_name(metadata: Optional[Dict[str, Any]]) -> Optional[str]:
    """The staff member's name of a staff reply's metadata, else None."""
    if not metadata or metadata.get("staff_reply") is not True:
        return None
    name = metadata.get("staff_name")
    return str(name)[:200] if name else "Clinic staff"


class _AppBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that remembers the app it is registered on."""

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        """Attaches socket.io and keeps the app (its agent has the tracker store)."""
        self.ctx.app = app
        super().register(app, options)


def history_messages(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The patient's and the bot's messages of a conversation, for the widget.

    Bot texts are split on blank lines like live replies are; a button click is
    shown with the button's title rather than its payload (e.g. "Yes", not
    "/affirm"). Only the last bot message keeps its quick replies, and only when the
    patient has not answered since.

    Args:
        events: the tracker's events as dicts (`tracker.current_state` format).

    Returns:
        Messages `{"sender": "user"|"bot", "text": ..., "quick_replies": [...]}`
        (staff replies also `"staff_name": ...`),
        oldest first, at most `HISTORY_LIMIT`.
    """
    messages: List[Dict[str, Any]] = []
    offered: Dict[str, str] = {}  # payload -> title of the last buttons
    for event in events:
        kind = event.get("event")
        if kind == "user":
            text = event.get("text") or ""
            text = offered.get(text, text)
            if text.startswith("/"):
                continue  # an intent payload with no known title: nothing to show
            messages.append({"sender": "user", "text": text, "quick_replies": []})
            offered = {}
        elif kind == "bot":
            buttons = (event.get("data") or {}).get("buttons") or []
            parts = [p for p in (event.get("text") or "").strip().split("\n\n") if p]
            staff = staff_name(event.get("metadata"))
            for part in parts or ([""] if buttons else []):
                message = {"sender": "bot", "text": part, "quick_replies": []}
                messages.append({**message, **({"staff_name": staff} if staff else {})})
            if buttons:
                replies = [
                    {
                        "title": str(b.get("title", "")),
                        "payload": str(b.get("payload", "")),
                    }
                    for b in buttons
                ]
                messages[-1]["quick_replies"] = replies
                offered = {r["payload"]: r["title"] for r in replies}
    last_bot = next((m for m in reversed(messages) if m["sender"] == "bot"), None)
    for message in messages:
        if message is not last_bot or messages[-1]["sender"] == "user":
            message["quick_replies"] = []
    return messages[-HISTORY_LIMIT:]


class ClinicSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output; a staff reply also carries the staff member's name.

    `HandoffService.reply` stores the reply as a `bot` event with the metadata
    `{"staff_reply": true, "staff_name": ...}`, which Rasa passes on as keyword
    arguments: the widget then shows who answered ("Dana, clinic staff").
    """

    async def send_text_message(
        self, recipient_id: Text, text: Text, **kwargs: Any
    ) -> None:
        """Sends each paragraph; staff replies with `staff_name`."""
        staff = staff_name(kwargs)
        for part in text.strip().split("\n\n"):
            message = {"text": part, **({"staff_name": staff} if staff else {})}
            await self._send_message(recipient_id, message)


class ClinicSocketIOInput(SocketIOInput):
    """Rasa's socket.io channel with working sessions, history and input checks."""

    @classmethod
    def from_credentials(
        cls, credentials: Optional[Dict[Text, Any]]
    ) -> ClinicSocketIOInput:
        """Reads the channel's options from `credentials.yml`."""
        credentials = credentials or {}
        channel = super().from_credentials(credentials)
        if credentials.get("cors_allowed_origins"):  # else the environment's
            channel.cors_allowed_origins = credentials["cors_allowed_origins"]
        return channel  # type: ignore[return-value]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cors_allowed_origins: List[str] = allowed_origins()

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """The socket.io server and its event handlers."""
        # Never [] (Rasa's choice): to python-socketio that means "check no origin".
        # None allows the server's own origin only.
        sio = AsyncServer(
            async_mode="sanic", cors_allowed_origins=self.cors_allowed_origins or None
        )
        blueprint = _AppBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(
            sid: Text, environ: Dict, auth: Optional[Dict] = None
        ) -> bool:
            return self._authorised(auth)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: Text, data: Any = None) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            session_id = requested if is_session_id(requested) else uuid.uuid4().hex
            if self.session_persistence:
                # The fix: python-socketio >= 5.12 made enter_room a coroutine.
                entered = sio.enter_room(sid, session_id, namespace=namespace)
                if inspect.isawaitable(entered):
                    await entered
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            history = await self._history(blueprint, session_id) if requested else []
            await sio.emit(
                "history",
                {"session_id": session_id, "messages": history},
                room=sid,
                namespace=namespace,
            )

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Any = None) -> None:
            problem, sender_id, text, metadata = self._read_message(sid, data)
            if problem:
                await sio.emit(
                    "chat_error", {"text": problem}, room=sid, namespace=namespace
                )
                return
            output = ClinicSocketIOOutput(sio, self.bot_message_evt)
            await on_new_message(
                UserMessage(
                    text,
                    output,
                    sender_id,
                    input_channel=self.name(),
                    metadata=metadata,
                )
            )

        return blueprint

    def get_output_channel(self) -> Optional[OutputChannel]:
        """The output for messages sent through Rasa's HTTP API (staff replies)."""
        if self.sio is None:
            return super().get_output_channel()
        return ClinicSocketIOOutput(self.sio, self.bot_message_evt)

    def _authorised(self, auth: Optional[Dict]) -> bool:
        """Rasa's optional JWT check (`jwt_key` in credentials.yml)."""
        if not self.jwt_key:
            return True
        from rasa.core.channels.channel import decode_bearer_token

        token = auth.get("token") if isinstance(auth, dict) else None
        return bool(
            token and decode_bearer_token(token, self.jwt_key, self.jwt_algorithm)
        )

    def _read_message(self, sid: Text, data: Any):
        """Checks a `user_uttered` payload: (problem, sender id, text, metadata)."""
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return "I could not read that message. Please type it again.", "", "", {}
        text = data["message"]
        if len(text) > MAX_MESSAGE_CHARS:
            return TOO_LONG, "", "", {}
        if self.session_persistence:
            session_id = data.get("session_id")
            if not is_session_id(session_id):
                return NO_SESSION, "", "", {}
            sender_id = session_id
        else:
            sender_id = sid
        metadata = data.get(self.metadata_key)
        return None, sender_id, text, metadata if isinstance(metadata, dict) else {}

    @staticmethod
    async def _history(blueprint: _AppBlueprint, session_id: str) -> List[Dict]:
        """The conversation so far, or nothing when it cannot be read."""
        app = getattr(blueprint.ctx, "app", None)  # None until registered
        agent = getattr(app.ctx, "agent", None) if app is not None else None
        if agent is None or agent.tracker_store is None:
            return []
        try:
            # Full: `retrieve` starts at the last session start, after its notice.
            tracker = await agent.tracker_store.retrieve_full_tracker(session_id)
        except Exception:  # noqa: BLE001 - a reload must never kill the socket
            logger.exception("Could not read a widget conversation's history.")
            return []
        if tracker is None:
            return []
        return history_messages(tracker.current_state(EventVerbosity.ALL)["events"])
