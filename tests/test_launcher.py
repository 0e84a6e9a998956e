"""`make run`'s launcher: starts every process, answers, and stops them on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from bot.serve import commands
from bot.settings import load_settings
from tests.conftest import ROOT, free_port, wait_for_http

pytestmark = [pytest.mark.model, pytest.mark.server]


def children_of(pid):
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop_signal", [signal.SIGINT])
def test_launcher_serves_and_stops_everything(trained_model, tmp_path, stop_signal):
    rasa_port, action_port, widget_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'rasa.db'}",
        "RASA_PORT": str(rasa_port),
        "ACTION_PORT": str(action_port),
        "WIDGET_PORT": str(widget_port),
        "RASA_API_TOKEN": "launcher-test-token-0123456789",
    }
    log = open(tmp_path / "launcher.log", "w")
    launcher = subprocess.Popen(
        [sys.executable, "-m", "bot.serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{rasa_port}/", 240, launcher)
        body = json.dumps(
            {"sender": "launcher", "message": "how fast does it work"}
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook", data=body
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            replies = json.loads(response.read())
        assert any("hours or days" in r.get("text", "") for r in replies)
        wait_for_http(f"http://127.0.0.1:{widget_port}/", 30, launcher)  # demo page
        children = children_of(launcher.pid)
        assert len(children) == len(commands(load_settings(env)))
        launcher.send_signal(stop_signal)
        assert launcher.wait(timeout=40) == 0
        deadline = time.monotonic() + 10
        while any(alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(alive(c) for c in children)
        assert (tmp_path / "rasa.db").exists()
    finally:
        if launcher.poll() is None:
            launcher.kill()
        log.close()
