"""A fake Twilio REST API on loopback that records the messages sent to it.

Only `POST /2010-04-01/Accounts/{sid}/Messages.json` (what
`client.messages.create` calls), with HTTP basic auth checked like Twilio does.
It can be told to fail the next sends (`fail_next`) with a server error or with
a Twilio error code such as 21610 ("unsubscribed recipient"), or to hang up.

    with FakeTwilio("AC...", "token") as twilio:
        ... TWILIO_API_BASE_URL=twilio.base_url ...
        twilio.wait_for(lambda sent: len(sent) == 2)
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, List, Optional
from urllib.parse import parse_qs


@dataclass(frozen=True)
class Failure:
    """How to answer one request: an HTTP status and Twilio error code."""

    status: int = 500
    code: Optional[int] = None
    hang_up: bool = False  # close the connection without an answer


class FakeTwilio:
    """The fake API; `sent` lists the form of each accepted message, in order, and
    `sids` the SID it answered for each."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: List[Dict[str, str]] = []
        self.sids: List[str] = []
        self.requests = 0
        self._failures: List[Failure] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """What TWILIO_API_BASE_URL points at."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, failure: Failure = Failure()) -> None:
        """The next `count` requests fail this way."""
        with self._lock:
            self._failures.extend([failure] * count)

    def to(self, phone: str) -> List[str]:
        """The bodies sent to `phone`, in the order they arrived."""
        with self._lock:
            return [m["Body"] for m in self.sent if m.get("To") == phone]

    def wait_for(
        self,
        condition: Callable[[List[Dict[str, str]]], bool],
        timeout: float = 20.0,
    ) -> List[Dict[str, str]]:
        """Polls until `condition(sent)` holds; returns the messages sent."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                sent = list(self.sent)
            if condition(sent):
                return sent
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met; sent: {sent!r}")
            time.sleep(0.05)

    def _answer(self, form: Dict[str, str]):
        """(status, JSON body) for one create-message request; None: hang up."""
        with self._lock:
            self.requests += 1
            failure = self._failures.pop(0) if self._failures else None
            sid = "SM" + secrets.token_hex(16)
            if failure is None:
                self.sent.append(form)
                self.sids.append(sid)
        if failure is None:
            return 201, {"sid": sid, "status": "queued", "to": form.get("To")}
        if failure.hang_up:
            return None
        return failure.status, {
            "code": failure.code or failure.status,
            "message": f"Fake failure for {form.get('To')}",  # quotes the number
            "more_info": "https://www.twilio.com/docs/errors",
            "status": failure.status,
        }

    def _handler(self):
        fake = self
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        expected_auth = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                if self.path != path:
                    return self._reply(404, {"code": 20404, "status": 404})
                if self.headers.get("Authorization") != expected_auth:
                    return self._reply(401, {"code": 20003, "status": 401})
                form = {
                    k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()
                }
                answer = fake._answer(form)
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                return self._reply(*answer)

        return Handler
