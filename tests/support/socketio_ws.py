"""A widget session over socket.io's websocket transport only, as the widget opens it
when several workers run (no long-polling).

The python-socketio client's websocket transport needs a newer aiohttp than Rasa
pins, so this speaks the protocol itself over `websockets` (Engine.IO 4,
Socket.IO 5, default namespace): enough to ask for a session, send messages, answer
the server's pings and collect what it emits.

    async with WidgetSocket(base_url) as widget:
        session_id = await widget.start()
        await widget.say("is it safe?")
        event, data = await widget.next_event("bot_uttered")
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, List, Optional, Tuple

import websockets


class WidgetSocket:
    """One browser tab's widget, connected by websocket to the Rasa server."""

    def __init__(self, base_url: str, timeout: float = 30) -> None:
        self.url = (
            base_url.replace("http://", "ws://", 1)
            + "/socket.io/?EIO=4&transport=websocket"
        )
        self.timeout = timeout
        self.session_id: Optional[str] = None
        self.events: List[Tuple[str, Any]] = []
        self._arrived = asyncio.Event()
        self._socket: Any = None
        self._reader: Optional[asyncio.Task] = None

    async def __aenter__(self) -> WidgetSocket:
        self._socket = await websockets.connect(self.url, open_timeout=self.timeout)
        opening = await asyncio.wait_for(self._socket.recv(), self.timeout)
        assert opening.startswith("0"), opening  # Engine.IO "open"
        await self._socket.send("40")  # Socket.IO "connect" to "/"
        connected = await asyncio.wait_for(self._socket.recv(), self.timeout)
        assert connected.startswith("40"), connected
        self._reader = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self._socket.close()

    async def _read(self) -> None:
        async for packet in self._socket:
            if packet == "2":  # Engine.IO ping: answer, or the server drops us
                await self._socket.send("3")
            elif packet.startswith("42"):  # Socket.IO event
                name, *args = json.loads(packet[2:])
                self.events.append((name, args[0] if args else None))
                self._arrived.set()

    async def emit(self, event: str, data: Any) -> None:
        """Sends one socket.io event."""
        await self._socket.send("42" + json.dumps([event, data]))

    async def next_event(self, name: str, after: int = 0) -> Tuple[str, Any]:
        """The first `name` event at or after position `after`, waiting for it."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            for event in self.events[after:]:
                if event[0] == name:
                    return event
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {name!r} event; got {self.events}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def start(self) -> str:
        """Asks for a new session and returns its id."""
        await self.emit("session_request", {"session_id": None})
        _, session_id = await self.next_event("session_confirm")
        self.session_id = session_id
        return session_id

    async def say(self, message: str) -> None:
        """Sends a patient's message in this session."""
        await self.emit(
            "user_uttered", {"session_id": self.session_id, "message": message}
        )
