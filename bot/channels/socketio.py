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
  `MAX_MESSAGE_CHARS`, its `metadata` at most `MAX_METADATA_BYTES` of JSON, and a
  session (and a socket) may send at most `CHAT_RATE_LIMIT` messages
  (`bot.channels.limits`); anything else gets a plain answer (`chat_error`
  event), never a crash, and nothing of it is stored. A socket.io packet over
  `MAX_PACKET_BYTES` is dropped by the transport before it is even parsed.

And three more that matter on a shared computer (the session id is a bearer
token for the whole conversation):

- **Start over leaves the old conversation.** A socket belongs to one session at
  a time: a new `session_request` takes it out of the room of the session it had,
  so the next person at that screen never receives the previous patient's staff
  replies, and a message for another session than the socket's is refused.
- **Idle sessions expire on the server.** A session whose conversation has had
  no event for `WIDGET_SESSION_IDLE_MINUTES` (default 60) is not resumed: a
  `session_request` with it gets a new session and no history, and a message
  with it gets `session_expired` (the widget then starts over). An id the
  server has no conversation for is replaced too, unless this socket was just
  given it.
- **No intake read-back in the history.** The request summary the bot reads
  back (name, phone, email, condition: `utter_ask_intake_confirmed`), the
  confirmation that names the patient (`utter_intake_submitted`) and the
  patient's own answers while the intake form runs are replaced by
  `widget.hidden` in the replayed history (`bot.channels.history`).

A curated answer's last paragraph carries its id, key and source
(`bot.channels.answers`); the patient's vote on it comes back as
`answer_feedback` and is checked and stored by `bot.channels.feedback`, never as a
message.

The channel keeps Rasa's name, `socketio`, and its events (`user_uttered`,
`bot_uttered`, `session_request`, `session_confirm`), so Rasa's own tools and the
handoff service (`output_channel=latest`) work unchanged.

Cross-origin: the widget is served by another origin (the clinic's site, or the
demo page on :8000); `WIDGET_ALLOWED_ORIGINS` (comma-separated) lists the sites
allowed to open a connection. A local run allows the demo page. Settings come
from `bot.settings.widget`, what the patient reads from `bot/texts` (`widget.*`).
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Optional,
    Text,
    Tuple,
    TypeGuard,
)

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from rasa.shared.core.trackers import EventVerbosity
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot import ids
from bot.channels import feedback
from bot.channels.answers import curated_answer
from bot.channels.history import history_messages, staff_name
from bot.channels.limits import MAX_MESSAGE_CHARS, RateLimiter, too_fast_text
from bot.settings import widget as widget_settings
from bot.texts import text as catalog_text
from bot.workers import pubsub

logger = logging.getLogger(__name__)

# MAX_MESSAGE_CHARS (4000, shared with REST): the widget limits a message to 1000
# characters (what the NLU reads, see InputGuard); a longer one is no widget's.
MAX_METADATA_BYTES = 2048  # the widget sends none; more is refused, never stored
MAX_PACKET_BYTES = 64 * 1024  # engine.io's limit for one packet (its default: 1 MB)
# Why a socket may not write to a session: keys of the text catalog (bot/texts/).
SESSION_EXPIRED = "widget.expired"  # idle too long: the widget starts over
NO_SESSION = "widget.no_session"  # not this socket's session


def is_session_id(value: Any) -> TypeGuard[str]:
    """True for a session id this channel hands out (32 lowercase hex characters)."""
    return ids.is_widget_id(value)


class _AppBlueprint(SocketBlueprint):
    """Rasa's socket.io blueprint that remembers the app it is registered on."""

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        """Attaches socket.io and keeps the app (its agent has the tracker store)."""
        self.ctx.app = app
        super().register(app, options)


def _last_event_time(tracker: Any) -> Optional[float]:
    """When the conversation last had an event (epoch seconds), None if never."""
    events = getattr(tracker, "events", None) if tracker is not None else None
    if not events:
        return None
    return max((getattr(e, "timestamp", 0) or 0) for e in list(events)[-20:])


class ClinicSocketIOOutput(SocketIOOutput):
    """Rasa's socket.io output; a staff reply also carries the staff member's name.

    `HandoffService.reply` stores the reply as a `bot` event with the metadata
    `{"staff_reply": true, "staff_name": ...}`, which Rasa passes on as keyword
    arguments: the widget then shows who answered ("Dana, clinic staff"). The
    last paragraph of a curated answer carries `answer` (its id, key and source,
    `bot.channels.answers`): the widget shows the source and the feedback buttons.
    """

    async def send_text_message(
        self, recipient_id: Text, text: Text, **kwargs: Any
    ) -> None:
        """Sends each paragraph; staff replies with `staff_name`."""
        staff = staff_name(kwargs)
        answer = None if staff else curated_answer(kwargs)
        parts = text.strip().split("\n\n")
        for number, part in enumerate(parts, 1):
            message: Dict[str, Any] = {"text": part}
            if staff:
                message["staff_name"] = staff
            if answer is not None and number == len(parts):
                message["answer"] = answer
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
        return channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cors_allowed_origins: List[str] = widget_settings.allowed_origins()
        self.idle_seconds = widget_settings.idle_minutes() * 60
        self.limiter = RateLimiter.from_settings()
        # socket id -> the session it was given or resumed (one at a time)
        self._sessions: Dict[str, str] = {}
        self._clock: Callable[[], float] = time.time

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        """The socket.io server and its event handlers."""
        # Never [] (Rasa's choice): to python-socketio that means "check no origin".
        # None allows the server's own origin only.
        manager = pubsub.client_manager()  # Redis between workers, or None
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=self.cors_allowed_origins or None,
            max_http_buffer_size=MAX_PACKET_BYTES,
            client_manager=manager,
            # Long-polling spreads one session's requests over the workers, which
            # would need sticky sessions; the widget tries the websocket first.
            transports=pubsub.TRANSPORTS if manager is not None else None,
        )
        blueprint = _AppBlueprint(sio, self.socketio_path, "socketio_webhook", __name__)
        if manager is not None:
            pubsub.distinct_per_worker(blueprint, manager)
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

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: Text, *_: Any) -> None:
            self._sessions.pop(sid, None)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: Text, data: Any = None) -> None:
            requested = data.get("session_id") if isinstance(data, dict) else None
            tracker = None
            if is_session_id(requested):
                tracker = await self._tracker(blueprint, requested)
            if tracker is not None and self._live(tracker):
                assert isinstance(requested, str)  # a tracker is only looked up by id
                session_id = requested
            else:  # new, unknown to the server, or idle too long: a new session
                session_id, tracker = uuid.uuid4().hex, None
            await self._join(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            history = (
                history_messages(tracker.current_state(EventVerbosity.ALL)["events"])
                if tracker is not None
                else []
            )
            if tracker is not None:  # the patient's votes, on their answers
                await feedback.add_votes(session_id, history)
            await sio.emit(
                "history",
                {"session_id": session_id, "messages": history},
                room=sid,
                namespace=namespace,
            )

        @sio.on(feedback.FEEDBACK_EVENT, namespace=namespace)
        async def answer_feedback(sid: Text, data: Any = None) -> None:
            event, reply = await feedback.handle(self, blueprint, sid, data)
            await sio.emit(event, reply, room=sid, namespace=namespace)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Any = None) -> None:
            problem, sender_id, text, metadata = self._read_message(sid, data)
            if not problem and self.session_persistence:
                reason = await self._session_problem(blueprint, sid, sender_id)
                if reason == SESSION_EXPIRED:
                    await self._leave(sid)
                    await sio.emit(
                        "session_expired",
                        {"text": catalog_text(SESSION_EXPIRED)},
                        room=sid,
                        namespace=namespace,
                    )
                    return
                if reason == NO_SESSION:
                    problem = catalog_text(NO_SESSION)
            if not problem:
                wait = self.limiter.retry_after(f"widget:{sender_id}", f"sid:{sid}")
                if wait is not None:
                    logger.warning("Widget message refused: over the rate limit")
                    problem = too_fast_text(wait)
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

    def _read_message(
        self, sid: Text, data: Any
    ) -> Tuple[Optional[str], str, str, Dict[str, Any]]:
        """Checks a `user_uttered` payload: (problem, sender id, text, metadata)."""
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            return catalog_text("widget.unreadable"), "", "", {}
        text = data["message"]
        if len(text) > MAX_MESSAGE_CHARS:
            return catalog_text("widget.too_long"), "", "", {}
        if self.session_persistence:
            session_id = data.get("session_id")
            if not is_session_id(session_id):
                return catalog_text(NO_SESSION), "", "", {}
            sender_id = session_id
        else:
            sender_id = sid
        metadata = data.get(self.metadata_key)
        if not isinstance(metadata, dict):
            return None, sender_id, text, {}
        try:
            size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
        except (TypeError, ValueError):  # not JSON (cannot happen over socket.io)
            size = MAX_METADATA_BYTES + 1
        if size > MAX_METADATA_BYTES:
            logger.warning("Widget message refused: metadata of %d bytes", size)
            return catalog_text("widget.unreadable"), "", "", {}
        return None, sender_id, text, metadata

    def _live(self, tracker: Any) -> bool:
        """True when the conversation had an event within the idle time."""
        last = _last_event_time(tracker)
        return last is not None and self._clock() - last <= self.idle_seconds

    async def _session_problem(
        self, blueprint: _AppBlueprint, sid: Text, session_id: str
    ) -> Optional[str]:
        """Why this socket may not write to `session_id` now (a text key), or None.

        A socket writes to its own session only. A socket that has none yet (a
        reconnection sends its buffered messages before asking for its session)
        takes the message's session if the server has a live conversation for it.
        """
        own = self._sessions.get(sid)
        if own is not None and own != session_id:
            # e.g. a message from before "Start over"
            return NO_SESSION
        tracker = await self._tracker(blueprint, session_id)
        if tracker is not None and _last_event_time(tracker) is not None:
            if not self._live(tracker):
                return SESSION_EXPIRED
        elif own is None:
            # an id the server never handed to this socket
            return NO_SESSION
        if own is None:
            await self._join(sid, session_id)
        return None

    async def _join(self, sid: Text, session_id: str) -> None:
        """Moves the socket into `session_id`'s room, out of any earlier one."""
        await self._leave(sid)
        self._sessions[sid] = session_id
        if self.session_persistence and self.sio is not None:
            # The fix: python-socketio >= 5.12 made enter_room a coroutine.
            entered = self.sio.enter_room(sid, session_id, namespace=self.namespace)
            if inspect.isawaitable(entered):
                await entered

    async def _leave(self, sid: Text) -> None:
        """Takes the socket out of its session's room (it keeps its own)."""
        self._sessions.pop(sid, None)
        if self.sio is None:
            return
        namespace = self.namespace or "/"
        for room in list(self.sio.rooms(sid, namespace=namespace) or []):
            if room in (sid, None):
                continue
            left = self.sio.leave_room(sid, room, namespace=namespace)
            if inspect.isawaitable(left):
                await left

    @staticmethod
    async def _tracker(blueprint: _AppBlueprint, session_id: str) -> Any:
        """The conversation's full tracker, or None when unknown or unreadable."""
        app = getattr(blueprint.ctx, "app", None)  # None until registered
        agent = getattr(app.ctx, "agent", None) if app is not None else None
        if agent is None or agent.tracker_store is None:
            return None
        try:
            # Full: `retrieve` starts at the last session start, after its notice.
            return await agent.tracker_store.retrieve_full_tracker(session_id)
        except Exception:  # noqa: BLE001 - a reload must never kill the socket
            logger.exception("Could not read a widget conversation.")
            return None
