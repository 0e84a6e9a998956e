"""Starts the whole product and keeps it running (`make run`).

Runs the action server, the Rasa server, the widget/demo page server and the staff
console as child processes that log to this terminal. A child that exits on its own
is restarted after a backoff (1, 2, 4, 8... seconds, at most 30), and the log says
so; one that crashes `MAX_CRASHES` times within `CRASH_WINDOW_SECONDS` is a fault
that restarting will not fix, so everything stops and the launcher exits 1. Ctrl-C
(or SIGTERM) stops them all.

No secret is on a command line (`ps` shows those to every user of the machine): the
children read them from the environment (`Settings.child_environment`).
"""

from __future__ import annotations

import argparse
import secrets
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Deque, Dict, List, Mapping, Optional

from bot.settings import (
    MODELS_DIR,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    get_settings,
    load_all,
)

STOP_TIMEOUT_SECONDS = 15
MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 300
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
POLL_SECONDS = 0.5


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


class TooManyCrashes(RuntimeError):
    """A child crashed `MAX_CRASHES` times within `CRASH_WINDOW_SECONDS`."""

    def __init__(self, name: str, crashes: int) -> None:
        super().__init__(name)
        self.name = name
        self.crashes = crashes


@dataclass
class Child:
    """One supervised process."""

    name: str
    command: List[str]
    process: Optional[subprocess.Popen] = None
    crashes: Deque[float] = field(default_factory=deque)  # monotonic times
    restart_at: Optional[float] = None  # set while waiting out a backoff


class Supervisor:
    """Starts children, restarts the ones that exit, stops them all at the end.

    Args:
        commands: command line by name (started in this order).
        env: the children's environment.
        cwd: their working directory.
        log: where the supervisor's own lines go (stderr by default).
        max_crashes, window: give up when one child crashes `max_crashes` times
            within `window` seconds.
        backoff_first, backoff_max: the wait before a restart doubles from
            `backoff_first` with each crash in the window, up to `backoff_max`.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        commands: Mapping[str, List[str]],
        env: Mapping[str, str],
        cwd: Path = PROJECT_ROOT,
        log: Optional[Callable[[str], None]] = None,
        max_crashes: int = MAX_CRASHES,
        window: float = CRASH_WINDOW_SECONDS,
        backoff_first: float = BACKOFF_FIRST_SECONDS,
        backoff_max: float = BACKOFF_MAX_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = [Child(name, list(cmd)) for name, cmd in commands.items()]
        self.env = dict(env)
        self.cwd = cwd
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.max_crashes = max_crashes
        self.window = window
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.clock = clock

    @property
    def processes(self) -> Dict[str, subprocess.Popen]:
        """The current process of each child that has one."""
        return {c.name: c.process for c in self.children if c.process is not None}

    def start_all(self) -> None:
        """Starts every child."""
        for child in self.children:
            self._start(child)

    def _start(self, child: Child) -> None:
        child.restart_at = None
        child.process = subprocess.Popen(child.command, cwd=self.cwd, env=self.env)

    def check(self) -> None:
        """Notices exited children, schedules and performs restarts.

        Raises:
            TooManyCrashes: a child crashed too often; nothing is restarted.
        """
        now = self.clock()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.log(f"[launcher] restarting the {child.name}")
                    self._start(child)
                continue
            code = child.process.poll() if child.process else None
            if code is None:
                continue
            child.crashes.append(now)
            while child.crashes and now - child.crashes[0] > self.window:
                child.crashes.popleft()
            count = len(child.crashes)
            if count >= self.max_crashes:
                self.log(
                    f"[launcher] the {child.name} exited (code {code}), {count} "
                    f"times within {self.window:.0f} s: giving up and stopping "
                    "everything. Its log above says why."
                )
                raise TooManyCrashes(child.name, count)
            delay = min(self.backoff_max, self.backoff_first * 2 ** (count - 1))
            child.restart_at = now + delay
            self.log(
                f"[launcher] the {child.name} exited (code {code}); restarting it "
                f"in {delay:.0f} s (crash {count} of {self.max_crashes} allowed "
                f"within {self.window:.0f} s)"
            )

    def stop(self) -> None:
        """Stops every child: SIGTERM first, SIGKILL for the stubborn."""
        stop(self.processes)


def answers(url: str) -> bool:
    """True if `url` answers (any status) within two seconds."""
    import requests

    try:
        requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return True


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


def _banner(settings: Settings) -> str:
    base = f"http://{settings.host}:{settings.rasa_port}"
    actions = settings.action_server_url.rsplit("/webhook", 1)[0]
    return (
        f"\n  MS Pain & Migraine assistant is up:\n"
        f"    REST channel  POST {base}/webhooks/rest/webhook\n"
        f"    HTTP API      {base}/ (token: RASA_API_TOKEN, "
        f"or var/rasa_api_token)\n"
        f"    Actions       {actions}/health "
        "(calls need ACTION_SERVER_TOKEN)\n"
        f"    Demo page     http://localhost:{settings.widget_port}/ "
        "(the website chat widget)\n"
        f"    Staff console http://localhost:{settings.console_port}/\n"
        f"    SMS webhook   POST {base}/webhooks/twilio/webhook "
        "(TWILIO_* settings)\n"
        f"  Ctrl-C stops everything; a crashed process is restarted.\n"
    )


def _connection_budget_problem(settings: Settings) -> Optional[str]:
    """Why the workers' PostgreSQL connections would not fit, or None."""
    from bot.db.capacity import over_budget
    from bot.db.engine import dispose_engines
    from bot.settings.storage import get_storage_settings

    storage = get_storage_settings()
    try:
        return over_budget(
            settings.database_url,
            settings.workers,
            storage.pool_size,
            storage.max_overflow,
        )
    finally:
        dispose_engines()  # the launcher keeps no connection open


def main(argv: Optional[List[str]] = None) -> int:
    """Starts every process and supervises them until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m bot.serve", description="Starts the whole product."
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=MODELS_DIR,
        help="model file or directory (default: the newest in var/models)",
    )
    args = parser.parse_args(argv)
    try:
        load_all()  # every area, so a bad value is named before any process starts
        settings = get_settings()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    if not settings.action_server_token:
        # Outside a local run without ACTION_SERVER_TOKEN: both children are ours,
        # so a secret made for this launch is shared through their environment.
        settings = replace(settings, action_server_token=secrets.token_urlsafe(32))
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
    problem = _connection_budget_problem(settings)
    if problem:
        print(f"Configuration error: {problem}", file=sys.stderr)
        return 2
    supervisor = Supervisor(
        commands(settings, args.model), settings.child_environment()
    )

    def on_signal(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    # Both explicitly: a launcher started in the background inherits an ignored SIGINT.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    rasa_root = f"http://{settings.host}:{settings.rasa_port}/"
    try:
        supervisor.start_all()
        up = False
        next_probe = 0.0
        while True:
            supervisor.check()
            if not up and time.monotonic() >= next_probe:
                up = answers(rasa_root)
                next_probe = time.monotonic() + 1
                if up:
                    print(_banner(settings), flush=True)
            time.sleep(POLL_SECONDS)
    except TooManyCrashes:
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", file=sys.stderr)
        return 0
    finally:
        supervisor.stop()


if __name__ == "__main__":
    sys.exit(main())
