"""Starts the whole product on loopback and stops it cleanly (`make run`).

Runs the action server, the Rasa server, the widget/demo page server and the staff
console as child processes that log to this terminal. Ctrl-C (or SIGTERM) stops them
all; if one of them dies, the others are stopped too, so a half-running product never
lingers.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Dict, List

from bot.settings import MODELS_DIR, PROJECT_ROOT, Settings, SettingsError, get_settings

STOP_TIMEOUT_SECONDS = 15


def commands(settings: Settings, model: Path = MODELS_DIR) -> Dict[str, List[str]]:
    """The command line of each process, by name (`model`: file or directory)."""
    python = sys.executable
    return {
        "action server": [
            python,
            "-m",
            "bot.action_server",
            "--port",
            str(settings.action_port),
        ],
        "rasa server": [
            python,
            "-m",
            "bot.rasa_server",
            "run",
            "--model",
            str(model),
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
            "--interface",
            settings.host,
            "--port",
            str(settings.rasa_port),
            # The API token comes from RASA_API_TOKEN: bot.rasa_server adds it
            # inside the process, where `ps` cannot see it.
            "--enable-api",
        ],
        "widget server": [
            python,
            "-m",
            "bot.widget",
            "--port",
            str(settings.widget_port),
        ],
        "staff console": [
            python,
            "-m",
            "bot.console",
            "serve",
            "--port",
            str(settings.console_port),
        ],
    }


def wait_until_up(url: str, timeout: float, processes) -> bool:
    """Polls `url` until it answers or a process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(1)
    return False


def stop(processes: Dict[str, subprocess.Popen]) -> None:
    """Stops every process: SIGTERM first, SIGKILL for the stubborn."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> int:
    """Starts both servers and supervises them until Ctrl-C."""
    try:
        settings = get_settings()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    try:
        from bot.db.migrate import upgrade

        upgrade(settings.database_url)
    except Exception as error:  # noqa: BLE001 - report any failure in plain words
        print(
            f"Cannot prepare the database ({type(error).__name__}). Is DATABASE_URL "
            "right and the server reachable?",
            file=sys.stderr,
        )
        return 2
    if not settings.action_server_token:
        # Outside a local run without ACTION_SERVER_TOKEN: both children are ours,
        # so a secret made for this launch is shared through their environment.
        settings = replace(settings, action_server_token=secrets.token_urlsafe(32))
    env = settings.child_environment()
    processes: Dict[str, subprocess.Popen] = {}

    def on_signal(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    # Both explicitly: a launcher started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for name, command in commands(settings).items():
            processes[name] = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env)
        base = f"http://{settings.host}:{settings.rasa_port}"
        if wait_until_up(base + "/", 300, list(processes.values())):
            print(
                f"\n  MS Pain & Migraine assistant is up:\n"
                f"    REST channel  POST {base}/webhooks/rest/webhook\n"
                f"    HTTP API      {base}/ (token: RASA_API_TOKEN, "
                f"or var/rasa_api_token)\n"
                f"    Actions       http://127.0.0.1:{settings.action_port}/health "
                "(calls need ACTION_SERVER_TOKEN)\n"
                f"    Demo page     http://localhost:{settings.widget_port}/ "
                "(the website chat widget)\n"
                f"    Staff console http://localhost:{settings.console_port}/\n"
                f"    SMS webhook   POST {base}/webhooks/twilio/webhook "
                "(TWILIO_* settings)\n"
                f"  Ctrl-C stops everything.\n",
                flush=True,
            )
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.5)
        dead = [name for name, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(dead)} stopped; stopping the rest.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", file=sys.stderr)
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
