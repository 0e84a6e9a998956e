"""Real Rasa workers pull the active model from a real staff console (`models:`).

Two model files that differ only in their `model_id` stand in for two trainings.
With `MODEL_SERVER_URL` set and no model active yet, the Rasa server starts on the
local model; activating a model reaches it at its next pull
(`MODEL_PULL_SECONDS`) with no restart; patients get answers before and after.
(A rollback is one more activation row, a new `ETag` for the same pull:
tests/console/test_console_models.py checks the console serves it.) While a
worker loads a new model (on its event loop, as Rasa does) it answers nothing for
some seconds: requests wait, none is lost.
"""

from __future__ import annotations

import io
import json
import secrets
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import requests

from bot.console.services import models as service
from bot.db.engine import dispose_engines, get_engine
from bot.db.migrate import upgrade
from tests.support.net import free_port
from tests.support.servers import run_servers

PULL_SECONDS = 5
SWITCH_SECONDS = 90  # a pull, then loading a model on a busy 2-core machine


def with_model_id(source: Path, target: Path, model_id: str) -> None:
    """A copy of a model archive whose metadata names another model id."""
    with (
        tarfile.open(source, "r:gz") as old,
        tarfile.open(target, "w:gz", compresslevel=1) as new,
    ):
        for member in old.getmembers():
            data = old.extractfile(member) if member.isfile() else None
            if member.name.lstrip("/") == "metadata.json" and data is not None:
                metadata = json.loads(data.read())
                metadata["model_id"] = model_id
                raw = json.dumps(metadata).encode()
                member.size = len(raw)
                data = io.BytesIO(raw)
            new.addfile(member, data)


def running_model(servers) -> str:
    """The model id the server runs ("" while it is busy loading one)."""
    try:
        status = requests.get(
            servers.base_url + "/status", params={"token": servers.token}, timeout=30
        )
    except requests.Timeout:
        return ""
    status.raise_for_status()
    return status.json()["model_id"]


def wait_for_model(servers, model_id: str) -> None:
    deadline = time.monotonic() + SWITCH_SECONDS
    while time.monotonic() < deadline:
        if running_model(servers) == model_id:
            return
        time.sleep(1)
    pytest.fail(f"the Rasa server still runs {running_model(servers)}")


def answered(servers, sender: str) -> bool:
    reply = requests.post(
        servers.base_url + "/webhooks/rest/webhook",
        json={"sender": sender, "message": "how fast does ketamine work?"},
        timeout=60,
    )
    return reply.status_code == 200 and any(m.get("text") for m in reply.json())


def test_every_worker_runs_the_active_model(trained_model, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    with_model_id(trained_model, folder / "20261207-000001-first.tar.gz", first)
    with_model_id(trained_model, folder / "20261207-000002-second.tar.gz", second)
    db_url = f"sqlite:///{tmp_path / 'clinic.db'}"
    upgrade(db_url)
    engine = get_engine(db_url)
    console_port = free_port()
    env = {
        "DATABASE_URL": db_url,
        "CONSOLE_PORT": str(console_port),
        "MODEL_SERVER_URL": f"http://127.0.0.1:{console_port}/model/active",
        "MODEL_SERVER_TOKEN": secrets.token_urlsafe(32),
        "MODEL_PULL_SECONDS": str(PULL_SECONDS),
        "MODELS_DIR": str(folder),
    }
    local = folder / "20261207-000001-first.tar.gz"
    try:
        with run_servers(local, tmp_path, env) as servers:
            # No model is active: the console answers 404, the local one runs.
            assert running_model(servers) == first
            assert answered(servers, "model-pull-1")

            service.activate(
                engine, folder, "20261207-000002-second.tar.gz", "cli", None
            )
            wait_for_model(servers, second)
            assert answered(servers, "model-pull-2")

            log = (tmp_path / "rasa_server.log").read_text()
            assert env["MODEL_SERVER_TOKEN"] not in log
    finally:
        dispose_engines()
