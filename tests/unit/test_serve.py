"""The launcher: command lines without secrets, and restarts of crashed children."""

import sys

import pytest

from bot.serve import Supervisor, TooManyCrashes, commands
from bot.settings import load_settings

SECRETS = {
    "RASA_API_TOKEN": "-Ab_cdefghijklmnopqrstuvwxyz0123",
    "ACTION_SERVER_TOKEN": "action-secret-0123456789abcdefgh",
}


def test_no_secret_is_on_any_command_line():
    # `ps` shows every process's command line to every user of the machine.
    settings = load_settings(SECRETS)
    for name, command in commands(settings, model="var/models").items():
        line = " ".join(command)
        for secret in SECRETS.values():
            assert secret not in line, name
        assert "--auth-token" not in line and "-t" not in command, name


def test_the_children_get_the_secrets_through_their_environment():
    env = load_settings(SECRETS).child_environment()
    assert env["RASA_API_TOKEN"] == SECRETS["RASA_API_TOKEN"]
    assert env["ACTION_SERVER_TOKEN"] == SECRETS["ACTION_SERVER_TOKEN"]


def test_rasa_gets_the_token_inside_its_process_intact(monkeypatch):
    # bot.rasa_server adds --auth-token from RASA_API_TOKEN to its own sys.argv; a
    # token starting with "-" must not be taken for an option.
    import rasa.__main__

    import bot.settings

    seen = {}

    def fake_rasa_main():
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("-t", "--auth-token")
        parser.add_argument("--enable-api", action="store_true")
        seen["args"], _ = parser.parse_known_args(sys.argv[2:])

    monkeypatch.setattr(rasa.__main__, "main", fake_rasa_main)
    monkeypatch.setattr(bot.settings, "get_settings", lambda: load_settings(SECRETS))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    import bot.rasa_server

    monkeypatch.setattr(bot.rasa_server, "apply", lambda: None)
    from bot.rasa_server import main

    rasa = commands(load_settings(SECRETS), model="var/models")["rasa server"]
    main(rasa[3:])  # what `python -m bot.rasa_server` receives
    assert seen["args"].auth_token == SECRETS["RASA_API_TOKEN"]
    assert seen["args"].enable_api


def test_rasa_listens_on_the_configured_interface_and_port():
    settings = load_settings({"HOST": "127.0.0.1", "RASA_PORT": "5999"})
    rasa = commands(settings)["rasa server"]
    assert rasa[rasa.index("--interface") + 1] == "127.0.0.1"
    assert rasa[rasa.index("--port") + 1] == "5999"
    assert "--enable-api" in rasa


def test_the_action_server_is_the_guarded_one():
    action = commands(load_settings({}))["action server"]
    assert action[1:3] == ["-m", "bot.action_server"]
    assert "rasa_sdk" not in action


# --- restarts ------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run_until(supervisor, clock, condition, steps=400, step=0.05):
    """Calls check() while advancing the fake clock; real time passes too."""
    import time

    for _ in range(steps):
        supervisor.check()
        if condition():
            return True
        clock.now += 1.0
        time.sleep(step)
    return False


def test_a_crashed_child_is_restarted_after_a_backoff_and_the_log_says_so(tmp_path):
    flag = tmp_path / "crashed-once"
    crash_once = (
        "import pathlib, sys, time\n"
        f"flag = pathlib.Path({str(flag)!r})\n"
        "if not flag.exists():\n"
        "    flag.write_text('x'); sys.exit(3)\n"
        "time.sleep(60)\n"
    )
    lines = []
    clock = FakeClock()
    supervisor = Supervisor(
        {"action server": [sys.executable, "-c", crash_once]},
        env={},
        cwd=tmp_path,
        log=lines.append,
        clock=clock,
    )
    try:
        supervisor.start_all()
        first = supervisor.processes["action server"]
        assert run_until(
            supervisor,
            clock,
            lambda: (
                supervisor.processes["action server"] is not first
                and supervisor.processes["action server"].poll() is None
            ),
        )
        assert any(
            "action server exited (code 3)" in line and "restarting it in 1 s" in line
            for line in lines
        ), lines
        assert any("restarting the action server" in line for line in lines)
    finally:
        supervisor.stop()
    assert supervisor.processes["action server"].poll() is not None


def test_the_backoff_doubles_and_repeated_crashes_stop_everything(tmp_path):
    lines = []
    clock = FakeClock()
    supervisor = Supervisor(
        {
            "action server": [sys.executable, "-c", "import sys; sys.exit(1)"],
            "widget server": [sys.executable, "-c", "import time; time.sleep(60)"],
        },
        env={},
        cwd=tmp_path,
        log=lines.append,
        clock=clock,
        max_crashes=5,
        window=300,
    )
    healthy = None
    try:
        supervisor.start_all()
        healthy = supervisor.processes["widget server"]
        with pytest.raises(TooManyCrashes) as raised:
            run_until(supervisor, clock, lambda: False)
        assert raised.value.name == "action server" and raised.value.crashes == 5
    finally:
        supervisor.stop()
    delays = [line for line in lines if "restarting it in" in line]
    assert [d.split("restarting it in ")[1].split(" s")[0] for d in delays] == [
        "1",
        "2",
        "4",
        "8",
    ]
    assert "giving up and stopping everything" in lines[-1]
    assert healthy.poll() is not None, "the others are stopped too"


def test_crashes_far_apart_never_add_up(tmp_path):
    lines = []
    clock = FakeClock()
    supervisor = Supervisor(
        {"action server": [sys.executable, "-c", "import sys; sys.exit(1)"]},
        env={},
        cwd=tmp_path,
        log=lines.append,
        clock=clock,
        max_crashes=3,
        window=60,
    )
    try:
        supervisor.start_all()
        for _ in range(8):  # a crash every ~100 fake seconds: never 3 within 60
            assert run_until(
                supervisor,
                clock,
                lambda: supervisor.children[0].restart_at is not None,
            )
            clock.now += 100
            supervisor.check()  # restarts it
    finally:
        supervisor.stop()
    assert sum("restarting it in 1 s" in line for line in lines) == 8


# --- fail closed: real processes, real environment ---------------------------------


def start_refused(module_args, env_overrides, tmp_path, timeout=90):
    """Runs `python -m <module_args>`; (exit code, stderr). Kills its whole group on
    timeout (a launcher that did start would leave children behind)."""
    import os
    import signal
    import subprocess

    from tests.support.paths import ROOT

    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "APP_ENV",
            "HOST",
            "RASA_API_TOKEN",
            "ACTION_SERVER_TOKEN",
            "TWILIO_API_BASE_URL",
        )
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'rasa.db'}",
            "RASA_PORT": "1",  # nothing may listen: a start would fail loudly
            **env_overrides,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", *module_args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"{module_args[0]} started instead of refusing")
    return process.returncode, stderr


@pytest.mark.parametrize(
    "module",
    [["bot.serve"], ["bot.action_server"], ["bot.rasa_server", "run", "--enable-api"]],
    ids=["launcher", "action-server", "rasa-server"],
)
def test_beyond_loopback_without_app_env_nothing_starts(module, tmp_path):
    code, stderr = start_refused(module, {"HOST": "0.0.0.0"}, tmp_path)
    assert code == 2, stderr[-2000:]
    assert "APP_ENV must be set" in stderr and "HOST='0.0.0.0'" in stderr


def test_a_stand_alone_action_server_outside_local_needs_its_secret(tmp_path):
    code, stderr = start_refused(
        ["bot.action_server"],
        {"APP_ENV": "production", "RASA_API_TOKEN": "r" * 32},
        tmp_path,
    )
    assert code == 2 and "ACTION_SERVER_TOKEN is required" in stderr


def test_the_launcher_refuses_plain_http_to_twilio_outside_local(tmp_path):
    code, stderr = start_refused(
        ["bot.serve"],
        {
            "APP_ENV": "production",
            "RASA_API_TOKEN": "r" * 32,
            "TWILIO_API_BASE_URL": "http://api.twilio.com",
        },
        tmp_path,
    )
    assert code == 2 and "TWILIO_API_BASE_URL must be an https" in stderr
