"""A stand-in for Rasa's HTTP API on loopback: records what the console sends.

It answers `POST /conversations/<id>/tracker/events` like Rasa (200) and keeps
each request's events in the order they arrived, which is the order Rasa would
apply them in. `delay` holds every answer back, like a Rasa busy sending the
message on (to Twilio, to the widget): the window in which a second request can
overtake the first.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List
from urllib.parse import parse_qs, urlsplit

PREFIX = "/conversations/"
SUFFIX = "/tracker/events"


class RasaStub:
    """Rasa's tracker events endpoint, recording; `port` for `RASA_PORT`."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests: List[Dict[str, Any]] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urlsplit(self.path)
                conversation = url.path[len(PREFIX) : -len(SUFFIX)]
                with stub._lock:
                    stub.requests.append(
                        {
                            "at": time.monotonic(),
                            "conversation": conversation,
                            "query": parse_qs(url.query),
                            "events": json.loads(body or b"null"),
                        }
                    )
                time.sleep(stub.delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events_for(self, conversation: str) -> List[Dict[str, Any]]:
        """Every event sent for one conversation, in the order Rasa got them."""
        with self._lock:
            return [
                event
                for request in self.requests
                if request["conversation"] == conversation
                for event in request["events"]
            ]

    def paused(self, conversation: str) -> bool:
        """Whether the conversation ends paused, after everything sent."""
        state = False
        for event in self.events_for(conversation):
            if event.get("event") in ("pause", "resume"):
                state = event["event"] == "pause"
        return state

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
