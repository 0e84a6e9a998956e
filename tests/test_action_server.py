"""The action server as an attacker on this machine sees it: real HTTP on loopback.

The server is started with `make run`'s own command line (`bot.serve.commands`), so
these tests attack whatever `make run` starts. On rasa-sdk's stock server each of
them got in: no secret needed, every interface, a deflate bomb inflated whole, the
tracker echoed in a 500.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
import zlib

import pytest

from bot.serve import commands
from bot.settings import load_settings
from tests.support.net import free_port
from tests.support.servers import Command, started

pytestmark = pytest.mark.server

TOKEN = "test-action-secret-0123456789abcdef"
MARKER = "Jane Marker +15557654321 my private pain story"
CAP = 1024 * 1024  # bot.action_server.MAX_BODY_BYTES


def action_call(action="action_session_start", sender="forged", text="hi"):
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.2",
        "domain": {"responses": {}},
        "tracker": {
            "sender_id": sender,
            "slots": {"crisis_flagged": None},
            "latest_message": {"text": text, "intent": {}, "entities": []},
            "events": [{"event": "user", "text": text}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def post(url, body: bytes, headers=None, timeout=30):
    """(status, body text) of a POST; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, data=body, method="POST")
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def auth(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def action_server(tmp_path_factory):
    """The action server of `make run` on a free loopback port; yields its URL."""
    tmp = tmp_path_factory.mktemp("actions")
    port = free_port()
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'rasa.db'}",
            "ACTION_PORT": str(port),
            "ACTION_SERVER_TOKEN": TOKEN,
            "RASA_API_TOKEN": "x" * 32,
        }
    )
    command = Command(
        name="action server",
        argv=commands(settings)["action server"],
        env=settings.child_environment(),
        log_path=tmp / "action_server.log",
        health_url=f"http://127.0.0.1:{port}/health",
    )
    with started(command) as processes:
        yield {
            "url": f"http://127.0.0.1:{port}",
            "port": port,
            "process": processes["action server"],
            "log": tmp / "action_server.log",
        }


def still_up(server):
    assert server["process"].poll() is None, "the action server died"
    assert get(server["url"] + "/health")[0] == 200


def test_health_answers_without_the_secret(action_server):
    assert get(action_server["url"] + "/health") == (200, '{"status":"ok"}')


@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("wrong-secret-0123456789abcdef0123"),
        auth(TOKEN[:-1]),
        auth(TOKEN + "x"),
        {"Authorization": TOKEN},  # no scheme
        {"Authorization": f"Basic {TOKEN}"},
        {"X-Token": TOKEN},
    ],
    ids=["none", "wrong", "prefix", "longer", "bare", "basic", "other-header"],
)
def test_a_forged_crisis_call_without_the_secret_is_refused(action_server, headers):
    # From the network one could forge urgent crisis handoffs and intake rows.
    body = json.dumps(action_call("action_crisis_response", text=MARKER)).encode()
    status, text = post(action_server["url"] + "/webhook", body, headers)
    assert status == 401
    assert MARKER not in text and "events" not in text
    assert get(action_server["url"] + "/actions", headers)[0] == 401


def test_the_token_in_the_query_string_is_not_accepted(action_server):
    body = json.dumps(action_call()).encode()
    status, _ = post(f"{action_server['url']}/webhook?token={TOKEN}", body)
    assert status == 401


def test_with_the_secret_an_action_runs(action_server):
    body = json.dumps(action_call()).encode()
    status, text = post(action_server["url"] + "/webhook", body, auth())
    assert status == 200, text
    reply = json.loads(text)
    assert reply["events"][0]["event"] == "session_started"
    assert reply["responses"][0]["response"] == "utter_notice"


def test_a_deflate_bomb_is_refused_and_the_server_stays_up(action_server):
    # ~100 KB on the wire, 100 MiB inflated: 100 times the cap.
    inflated = 100 * CAP
    bomb = zlib.compress(b"0" * inflated, 9)
    assert len(bomb) < CAP / 4
    status, text = post(
        action_server["url"] + "/webhook",
        bomb,
        {**auth(), "Content-Encoding": "deflate"},
    )
    assert status == 413, text
    still_up(action_server)
    # And it still serves the Rasa server.
    ok = post(
        action_server["url"] + "/webhook", json.dumps(action_call()).encode(), auth()
    )
    assert ok[0] == 200


def test_a_gzip_bomb_is_refused(action_server):
    import gzip

    bomb = gzip.compress(b"{" * (20 * CAP), 9)
    status, _ = post(
        action_server["url"] + "/webhook", bomb, {**auth(), "Content-Encoding": "gzip"}
    )
    assert status == 413
    still_up(action_server)


def test_a_bomb_without_the_secret_is_refused_too(action_server):
    bomb = zlib.compress(b"0" * (50 * CAP), 9)
    status, _ = post(
        action_server["url"] + "/webhook", bomb, {"Content-Encoding": "deflate"}
    )
    assert status in (401, 413)
    still_up(action_server)


def test_an_oversized_plain_body_is_refused(action_server):
    call = action_call(text="a" * (CAP + 10))
    status, _ = post(
        action_server["url"] + "/webhook", json.dumps(call).encode(), auth()
    )
    assert status == 413
    still_up(action_server)


def test_a_compressed_honest_call_still_works(action_server):
    # What Rasa sends with COMPRESS_ACTION_SERVER_REQUEST=true.
    body = zlib.compress(json.dumps(action_call()).encode())
    status, text = post(
        action_server["url"] + "/webhook",
        body,
        {**auth(), "Content-Encoding": "deflate"},
    )
    assert status == 200, text


def test_an_unknown_encoding_or_broken_stream_is_refused(action_server):
    body = json.dumps(action_call()).encode()
    assert (
        post(
            action_server["url"] + "/webhook",
            body,
            {**auth(), "Content-Encoding": "br"},
        )[0]
        == 415
    )
    truncated = zlib.compress(body)[:-8]
    assert (
        post(
            action_server["url"] + "/webhook",
            truncated,
            {**auth(), "Content-Encoding": "deflate"},
        )[0]
        == 400
    )


def test_a_crashing_action_does_not_echo_the_tracker(action_server):
    # slots that are not a mapping make action_session_start raise: rasa-sdk
    # answered 500 with the whole request (the tracker) in the body.
    call = action_call(text=MARKER)
    call["tracker"]["slots"] = MARKER
    status, text = post(
        action_server["url"] + "/webhook", json.dumps(call).encode(), auth()
    )
    assert status == 500
    assert MARKER not in text and "+1555" not in text
    assert json.loads(text) == {"error": "Internal error"}
    still_up(action_server)


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(action_call(action=MARKER)),  # rasa-sdk: 404 naming the "action"
        json.dumps({"next_action": "action_session_start", "tracker": MARKER}),
        json.dumps([MARKER]),
        "null",
        "",
        MARKER,
    ],
    ids=["unknown-action", "tracker-not-object", "list", "null", "empty", "not-json"],
)
def test_malformed_calls_get_a_plain_error_without_the_request(action_server, body):
    status, text = post(action_server["url"] + "/webhook", body.encode(), auth())
    assert 400 <= status < 500, (status, text)
    assert MARKER not in text and "+1555" not in text
    still_up(action_server)


def test_an_action_the_server_lacks_gets_404_naming_only_the_action(action_server):
    call = action_call(action="action_does_not_exist")
    status, text = post(
        action_server["url"] + "/webhook", json.dumps(call).encode(), auth()
    )
    # Rasa reads `action_name` from these answers.
    assert status == 404
    assert json.loads(text) == {
        "error": "No such action",
        "action_name": "action_does_not_exist",
    }


def test_it_listens_on_loopback_only(action_server):
    port = action_server["port"]
    # Every 127.x address reaches a server bound to 0.0.0.0 (rasa-sdk's default);
    # one bound to 127.0.0.1 answers on that address only.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=3).close()
    for address in other_interface_addresses():
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=3).close()
    assert listening_addresses(port) == {"127.0.0.1"}


def other_interface_addresses():
    """This machine's non-loopback IPv4 addresses (from `hostname -I`)."""
    try:
        out = subprocess.run(
            ["hostname", "-I"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [a for a in out.split() if "." in a and not a.startswith("127.")]


def listening_addresses(port):
    """Local addresses with a TCP socket listening on `port` (/proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.add(
                    socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
                )
            else:
                raw = bytes.fromhex(address)
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_the_log_carries_no_patient_text(action_server):
    # Last: after every attack above, the crashing action included.
    log = action_server["log"].read_text()
    assert "AttributeError" in log, "the crash was logged"
    assert MARKER not in log and "+1555" not in log
