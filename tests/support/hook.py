"""Loopback HTTP servers that record what is POSTed to them (`JsonRecorder`).

`StaffHook` stands in for the clinic's `STAFF_NOTIFY_URL`, `CallbackOutbox` for the
URL where Rasa's callback channel delivers the bot's (and staff's) messages.

Real HTTP in its own threads, so the action server (in the test process or in a
subprocess) reaches it like the clinic's own endpoint. `status` is what it answers
(set 503 to play a hook that is down); `delay` holds each answer back (a slow hook).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List


class JsonRecorder:
    """A loopback HTTP server recording every JSON body POSTed to it, in order.

    `status` is what it answers, `reply` its body, `delay` holds each answer back.
    """

    def __init__(self, path: str = "/", reply: bytes = b"") -> None:
        self.status = 200
        self.delay = 0.0
        self.received: List[Dict[str, Any]] = []  # {"raw": str, "json": payload}
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                raw = body.decode("utf-8", "replace")
                with recorder._lock:
                    recorder.received.append({"raw": raw, "json": json.loads(raw)})
                time.sleep(recorder.delay)
                self.send_response(recorder.status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def payloads(self) -> List[Any]:
        """Every JSON body received so far, in order."""
        with self._lock:
            return [r["json"] for r in self.received]

    def clear(self) -> None:
        """Forgets what was received."""
        with self._lock:
            self.received.clear()

    def close(self) -> None:
        """Stops the server."""
        self.server.shutdown()
        self.server.server_close()


class StaffHook(JsonRecorder):
    """The staff hook, recording; `url` for `STAFF_NOTIFY_URL`."""

    def __init__(self) -> None:
        super().__init__("/staff-hook")

    def for_handoff(self, handoff_id: int) -> List[Dict[str, Any]]:
        """The payloads received about one handoff, in order."""
        with self._lock:
            return [
                r["json"]
                for r in self.received
                if r["json"].get("handoff_id") == handoff_id
            ]

    def wait_for(self, handoff_id: int, count: int = 1, timeout: float = 15.0):
        """The payloads about `handoff_id` once there are `count` (or fails)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.for_handoff(handoff_id)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(
            f"{len(self.for_handoff(handoff_id))} of {count} hook calls "
            f"for handoff {handoff_id}"
        )

    def raw_for(self, handoff_id: int) -> List[str]:
        """The bodies as sent, to look for patient data in."""
        with self._lock:
            return [
                r["raw"]
                for r in self.received
                if r["json"].get("handoff_id") == handoff_id
            ]


class CallbackOutbox(JsonRecorder):
    """Where Rasa's callback channel delivers the bot's (and staff's) messages."""

    def __init__(self) -> None:
        super().__init__("/bot", reply=b"{}")

    def for_recipient(self, recipient: str) -> List[Dict[str, Any]]:
        """The messages delivered to one conversation, in order."""
        return [m for m in self.payloads if m.get("recipient_id") == recipient]

    def texts_for(self, recipient: str) -> List[str]:
        """The texts delivered to one conversation, in order."""
        return [m.get("text", "") for m in self.for_recipient(recipient)]
