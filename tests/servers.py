"""The product's real processes on free loopback ports, for tests.

Action server, Rasa server, widget server and staff console: the processes of
`make run` (`bot.serve.commands`).

    with run_servers(trained_model, tmp_path) as servers:
        requests.post(servers.base_url + "/webhooks/rest/webhook", json={...})

Both are started with the commands of `make run` (`bot.serve.commands`) and the
settings of `bot.settings.load_settings`, built from a few test values (not from
the environment of the test run), so a developer's `.env` never leaks in.
"""

from __future__ import annotations

import secrets
import subprocess
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional

from sqlalchemy.engine import make_url

from bot.serve import commands
from bot.settings import load_settings
from tests.conftest import ROOT, free_port, wait_for_http

ACTION_START_SECONDS = 60
RASA_START_SECONDS = 240  # loading the model
STOP_SECONDS = 20
LOG_TAIL_CHARS = 3000


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
        RuntimeError: a server exited or did not come up in time; the message
            ends with the tail of its log.
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
    log_paths = {name: tmp_dir / f"{name.replace(' ', '_')}.log" for name in cmds}
    processes: Dict[str, subprocess.Popen] = {}
    with ExitStack() as stack:
        logs = {
            name: stack.enter_context(open(path, "w"))
            for name, path in log_paths.items()
        }
        try:
            for name, cmd in cmds.items():
                processes[name] = subprocess.Popen(
                    cmd, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT
                )
            waits = {
                "action server": (servers.action_url + "/health", ACTION_START_SECONDS),
                "widget server": (servers.widget_url + "/health", ACTION_START_SECONDS),
                "staff console": (
                    servers.console_url + "/healthz",
                    ACTION_START_SECONDS,
                ),
                "rasa server": (servers.base_url + "/", RASA_START_SECONDS),
            }
            for name, (health_url, timeout) in waits.items():
                try:
                    wait_for_http(health_url, timeout, processes[name])
                except (RuntimeError, TimeoutError) as error:
                    logs[name].flush()
                    raise RuntimeError(
                        f"{name} did not start ({type(error).__name__}: {error}); "
                        f"log tail:\n{_log_tail(log_paths[name])}"
                    ) from None
            yield servers
        finally:
            _stop(processes)


def _stop(processes: Dict[str, subprocess.Popen]) -> None:
    """SIGTERM to all, then SIGKILL for any still running after STOP_SECONDS."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
