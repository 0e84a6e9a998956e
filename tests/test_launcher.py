"""`make run`'s launcher, started for real: it serves, keeps secrets off command
lines, listens on loopback only, brings a killed action server back, and stops
everything on Ctrl-C.

One launcher for the module (loading the model is the slow part); the tests run in
file order and the last one stops it.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.serve import commands
from bot.settings import load_settings
from tests.support.net import free_port, wait_for_http
from tests.support.servers import Command, started

pytestmark = [pytest.mark.model, pytest.mark.server]

API_TOKEN = "launcher-test-token-0123456789"
ACTION_TOKEN = "launcher-action-secret-0123456789"


def children_of(pid):
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def child_running(launcher, module):
    """The pid of the launcher's child started with `-m module`, or None."""
    for pid in children_of(launcher.pid):
        if f"-m {module} " in cmdline(pid) + " ":
            return pid
    return None


def say(rasa_port, sender, text):
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", data=body
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return [r.get("text", "") for r in json.loads(response.read())]


@pytest.fixture(scope="module")
def launcher(trained_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("launcher")
    ports = {
        "RASA_PORT": free_port(),
        "ACTION_PORT": free_port(),
        "WIDGET_PORT": free_port(),
        "CONSOLE_PORT": free_port(),
    }
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'rasa.db'}",
        **{name: str(port) for name, port in ports.items()},
        "RASA_API_TOKEN": API_TOKEN,
        "ACTION_SERVER_TOKEN": ACTION_TOKEN,
    }
    env.pop("APP_ENV", None)
    env.pop("HOST", None)
    log_path = tmp / "launcher.log"
    command = Command(
        name="launcher",
        argv=[sys.executable, "-m", "bot.serve", "--model", str(trained_model)],
        env=env,
        log_path=log_path,
        health_url=f"http://127.0.0.1:{ports['RASA_PORT']}/",
        start_seconds=240,
        stop_signal=signal.SIGINT,
        stop_seconds=40,
    )
    with started(command) as processes:
        yield {
            "process": processes["launcher"],
            "ports": ports,
            "env": env,
            "tmp": tmp,
            "log": log_path,
        }


def test_the_launcher_serves(launcher):
    rasa_port = launcher["ports"]["RASA_PORT"]
    replies = say(rasa_port, "launcher", "how fast does it work")
    assert any("hours or days" in r for r in replies), replies
    # The Rasa server called the action server with the secret: a refused call
    # would be logged as a failed custom action.
    assert "Custom action" not in launcher["log"].read_text()
    wait_for_http(f"http://127.0.0.1:{launcher['ports']['WIDGET_PORT']}/", 30)
    children = children_of(launcher["process"].pid)
    assert len(children) == len(commands(load_settings(launcher["env"])))


def test_no_secret_is_on_any_command_line(launcher):
    # `ps` shows every command line to every user of the machine.
    children = children_of(launcher["process"].pid)
    lines = [cmdline(pid) for pid in [launcher["process"].pid, *children]]
    assert all(lines)
    for line in lines:
        assert API_TOKEN not in line and ACTION_TOKEN not in line, line
        assert "--auth-token" not in line


def test_nothing_listens_beyond_loopback(launcher):
    # A server bound to 0.0.0.0 answers on every 127.x address; one bound to
    # 127.0.0.1 on that address only.
    for name, port in launcher["ports"].items():
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            pass
        try:
            socket.create_connection(("127.0.0.2", port), timeout=3).close()
        except OSError:
            continue
        pytest.fail(f"{name} ({port}) answers on 127.0.0.2: bound beyond loopback")


def test_a_killed_action_server_comes_back_within_seconds(launcher):
    process = launcher["process"]
    action_port = launcher["ports"]["ACTION_PORT"]
    before = child_running(process, "bot.action_server")
    assert before
    log_offset = len(launcher["log"].read_text())
    os.kill(before, signal.SIGKILL)  # a crash, not a polite stop
    killed_at = time.monotonic()
    wait_for_http(f"http://127.0.0.1:{action_port}/health", 30, process)
    assert time.monotonic() - killed_at < 30
    after = child_running(process, "bot.action_server")
    assert after and after != before
    assert process.poll() is None, "the launcher kept going"
    log = launcher["log"].read_text()[log_offset:]
    assert "the action server exited" in log and "restarting" in log, log[-2000:]
    # The product answers again, custom actions included (a new sender runs
    # action_session_start on the restarted action server).
    rasa_port = launcher["ports"]["RASA_PORT"]
    replies = say(rasa_port, "after-restart", "is ketamine therapy safe?")
    assert any("automated helper" in r for r in replies), replies
    assert not any("something went wrong" in r for r in replies), replies
    assert "Custom action" not in launcher["log"].read_text()[log_offset:]


def test_ctrl_c_stops_everything(launcher):
    process = launcher["process"]
    children = children_of(process.pid)
    assert children
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=40) == 0
    deadline = time.monotonic() + 10
    while any(alive(c) for c in children) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(alive(c) for c in children)
    assert (launcher["tmp"] / "rasa.db").exists()
