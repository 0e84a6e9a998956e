"""The widget's socket.io channel without a Rasa server: its real handlers, a
tracker store of event lists, and what they emit.

    widget = Widget(ClinicSocketIOInput.from_credentials({"session_persistence": True}))
    sid = widget.connect("eio-1")
    session_id, history = widget.request(sid, None)
    widget.say(sid, session_id, "is it safe?")  # -> [(event, data), ...]
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace


class Widget:
    """The channel's socket.io handlers, a fake tracker store, what was emitted."""

    def __init__(self, channel, trackers=None):
        from rasa.shared.core.trackers import DialogueStateTracker

        self.channel = channel
        self.trackers = trackers or {}  # session id -> list of event dicts
        self.received = []  # UserMessages that reached "Rasa"
        self.emitted = []

        async def on_new_message(message):
            self.received.append(message)

        blueprint = channel.blueprint(on_new_message)
        widget = self

        class Store:
            async def retrieve_full_tracker(self, session_id):
                events = widget.trackers.get(session_id)
                if events is None:
                    return None
                return DialogueStateTracker.from_dict(session_id, events, [])

        agent = SimpleNamespace(tracker_store=Store())
        blueprint.ctx.app = SimpleNamespace(ctx=SimpleNamespace(agent=agent))
        self.sio = channel.sio
        self.handlers = self.sio.handlers["/"]

        async def emit(event, data=None, room=None, namespace=None, **_):
            self.emitted.append((event, data, room))

        self.sio.emit = emit
        self.loop = asyncio.new_event_loop()

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def connect(self, eio_sid):
        return self.run(self.sio.manager.connect(eio_sid, "/"))

    def request(self, sid, session_id):
        self.emitted.clear()
        self.run(self.handlers["session_request"](sid, {"session_id": session_id}))
        confirmed = next(d for e, d, _ in self.emitted if e == "session_confirm")
        history = next(d for e, d, _ in self.emitted if e == "history")
        return confirmed, history["messages"]

    def say(self, sid, session_id, text="hello", **extra):
        self.emitted.clear()
        payload = {"message": text, "session_id": session_id, **extra}
        self.run(self.handlers["user_uttered"](sid, payload))
        return [(e, d) for e, d, _ in self.emitted]

    def rooms(self, sid):
        return self.sio.manager.get_rooms(sid, "/")

    def close(self):
        self.loop.close()

    def feedback(self, sid, payload):
        """Sends an `answer_feedback` payload; returns what the channel emitted."""
        self.emitted.clear()
        self.run(self.handlers["answer_feedback"](sid, payload))
        return [(e, d) for e, d, _ in self.emitted]
