"""The one way tests start a server: a subprocess, waited for, then stopped.

`started(...)` runs any number of `Command`s (each logged to its own file),
waits until each answers over HTTP, yields the processes and stops them (its
stop signal, then SIGKILL). `run_servers` uses it for the processes of
`make run`, on free loopback ports:

    with run_servers(trained_model, tmp_path) as servers:
        requests.post(servers.base_url + "/webhooks/rest/webhook", json={...})

They are started with the commands of `make run` (`bot.serve.commands`) and the
settings of `bot.settings.load_settings`, built from a few test values (not from
the environment of the test run), so a developer's `.env` never leaks in.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Sequence

from sqlalchemy.engine import make_url

from bot.serve import commands
from bot.settings import load_settings
from tests.support.net import free_port, wait_for_http
from tests.support.paths import ROOT

ACTION_START_SECONDS = 60
RASA_START_SECONDS = 240  # loading the model
STOP_SECONDS = 20
LOG_TAIL_CHARS = 3000


@dataclass(frozen=True)
class Command:
    """A server to start: its command line, environment, log and health URL."""

    name: str  # for messages, e.g. "action server"
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path  # stdout and stderr go here; its tail is in start errors
    health_url: Optional[str] = None  # None: do not wait
    start_seconds: float = ACTION_START_SECONDS
    stop_signal: int = signal.SIGTERM
    stop_seconds: float = STOP_SECONDS


@contextmanager
def started(*servers: Command) -> Iterator[Dict[str, subprocess.Popen]]:
    """Starts every command, waits for each in turn, yields them, stops them.

    All processes start before the first wait, so they load side by side.

    Yields:
        The processes by `Command.name`, once each health URL answers.

    Raises:
        RuntimeError: a server exited or did not come up in time; the message
            ends with the tail of its log.
    """
    processes: Dict[str, subprocess.Popen] = {}
    with ExitStack() as stack:
        logs = {
            server.name: stack.enter_context(open(server.log_path, "w"))
            for server in servers
        }
        try:
            for server in servers:
                processes[server.name] = subprocess.Popen(
                    list(server.argv),
                    cwd=ROOT,
                    env=dict(server.env),
                    stdout=logs[server.name],
                    stderr=subprocess.STDOUT,
                )
            for server in servers:
                if server.health_url is None:
                    continue
                try:
                    wait_for_http(
                        server.health_url, server.start_seconds, processes[server.name]
                    )
                except (RuntimeError, TimeoutError) as error:
                    logs[server.name].flush()
                    raise RuntimeError(
                        f"{server.name} did not start "
                        f"({type(error).__name__}: {error}); "
                        f"log tail:\n{_log_tail(server.log_path)}"
                    ) from None
            yield processes
        finally:
            _stop(servers, processes)


def _stop(servers: Sequence[Command], processes: Dict[str, subprocess.Popen]) -> None:
    """Each one's stop signal to all, then SIGKILL for any still running."""
    running = [
        (server, processes[server.name])
        for server in servers
        if server.name in processes
    ]
    for server, process in running:
        if process.poll() is None:
            process.send_signal(server.stop_signal)
    for server, process in running:
        try:
            process.wait(timeout=server.stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Servers:
    """Where the running servers are."""

    base_url: str  # Rasa server, e.g. http://127.0.0.1:43121
    action_url: str  # action server, e.g. http://127.0.0.1:43122
    widget_url: str  # widget and demo page server, e.g. http://127.0.0.1:43123
    console_url: str  # staff console, e.g. http://127.0.0.1:43124
    token: str  # Rasa's HTTP API token (`?token=`)
    database_url: str
    db_path: Optional[Path]  # the SQLite file, None for PostgreSQL
    log_dir: Path  # action_server.log, rasa_server.log, widget_server.log, ...


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    except OSError:
        return "(no log)"


@contextmanager
def run_servers(
    model_path: Path,
    tmp_dir: Path,
    extra_env: Optional[Mapping[str, str]] = None,
    credentials: Optional[Path] = None,
) -> Iterator[Servers]:
    """Starts every process of `make run`, yields where they are, and stops them.

    Args:
        model_path: the trained model (file or directory).
        tmp_dir: where the SQLite database (`rasa.db`, unless `extra_env` sets
            `DATABASE_URL`) and the two logs go.
        extra_env: settings variables (e.g. `DATABASE_URL`, `RASA_API_TOKEN`,
            `CLINIC_HOURS`), applied over the test defaults; they also reach both
            processes' environment. Without `RASA_API_TOKEN` a random token is
            used (see `Servers.token`).
        credentials: a credentials file to use instead of `credentials.yml`
            (e.g. to add the `callback` channel).

    Yields:
        A `Servers` once both servers answer.

    Raises:
        RuntimeError: a server exited or did not come up in time (`started`).
    """
    tmp_dir = Path(tmp_dir)
    extra = dict(extra_env or {})
    action_port, rasa_port, widget_port = free_port(), free_port(), free_port()
    console_port = free_port()
    # The demo page's origin, which the socket.io channel must accept.
    extra.setdefault("WIDGET_ALLOWED_ORIGINS", f"http://127.0.0.1:{widget_port}")
    settings = load_settings(
        {
            "DATABASE_URL": f"sqlite:///{tmp_dir / 'rasa.db'}",
            "RASA_API_TOKEN": secrets.token_urlsafe(24),
            "ACTION_PORT": str(action_port),
            "RASA_PORT": str(rasa_port),
            "WIDGET_PORT": str(widget_port),
            "CONSOLE_PORT": str(console_port),
            **extra,
        }
    )
    env = {**settings.child_environment(), **extra}
    cmds = commands(settings, model_path)
    if credentials is not None:
        rasa_cmd = cmds["rasa server"]
        rasa_cmd[rasa_cmd.index("--credentials") + 1] = str(credentials)
    url = make_url(settings.database_url)
    servers = Servers(
        base_url=f"http://127.0.0.1:{settings.rasa_port}",
        action_url=f"http://127.0.0.1:{settings.action_port}",
        widget_url=f"http://127.0.0.1:{settings.widget_port}",
        console_url=f"http://127.0.0.1:{settings.console_port}",
        token=settings.rasa_api_token,
        database_url=settings.database_url,
        db_path=(
            Path(url.database)
            if url.get_backend_name() == "sqlite" and url.database
            else None
        ),
        log_dir=tmp_dir,
    )
    waits = {
        "action server": (servers.action_url + "/health", ACTION_START_SECONDS),
        "widget server": (servers.widget_url + "/health", ACTION_START_SECONDS),
        "staff console": (servers.console_url + "/healthz", ACTION_START_SECONDS),
        "rasa server": (servers.base_url + "/", RASA_START_SECONDS),
    }
    with started(
        *(
            Command(
                name=name,
                argv=cmd,
                env=env,
                log_path=tmp_dir / f"{name.replace(' ', '_')}.log",
                health_url=waits[name][0],
                start_seconds=waits[name][1],
            )
            for name, cmd in cmds.items()
        )
    ):
        yield servers
