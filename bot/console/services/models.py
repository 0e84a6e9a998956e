"""The trained models: which files there are, which one the Rasa workers run.

The Rasa workers pull the active model from the console (`GET /model/active`,
Rasa's `models:` endpoint, see `bot.settings.models`): one pointer in the database
(`model_activations`, newest row) decides for every worker on every machine,
instead of `PUT /model`, which reloads only the worker that happens to receive it.
An admin activates a file on the Models page (or `python -m bot.console models
activate FILE`); rolling back activates the model that ran before. Every change
is audited. A file is served only while its content still has the digest it was
activated with: a file replaced under the same name is not served.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from bot.db.engine import session_scope
from bot.db.queries import audit, releases

# A model file's name as Rasa writes it (`<timestamp>-<name>.tar.gz`), nothing else:
# no directory part, so a name from a form never leaves the models directory.
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.tar\.gz$")
_CHUNK = 1 << 20
_digests: Dict[Tuple[str, int, int], str] = {}
_digests_lock = threading.Lock()


class ModelError(ValueError):
    """A model cannot be activated (the message is safe to show and to log)."""


@dataclass(frozen=True)
class ModelFile:
    """A trained model in the models directory."""

    name: str
    size: int
    modified: datetime
    sha256: str


def digest(path: Path) -> str:
    """The file's SHA-256, cached by path, size and modification time."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _digests_lock:
        known = _digests.get(key)
    if known:
        return known
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(chunk)
    value = sha.hexdigest()
    with _digests_lock:
        _digests[key] = value
    return value


def model_path(models_dir: Path, name: str) -> Path:
    """The file of a model name in the models directory.

    Raises:
        ModelError: the name is not a model file's name, or there is no such file.
    """
    if not MODEL_NAME.fullmatch(name or ""):
        raise ModelError("not a model file name")
    path = models_dir / name
    if not path.is_file() or path.is_symlink():
        raise ModelError("no such model file")
    return path


def model_files(models_dir: Path) -> List[ModelFile]:
    """Every model file in the directory, newest first."""
    if not models_dir.is_dir():
        return []
    files = []
    for path in models_dir.iterdir():
        if MODEL_NAME.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            stat = path.stat()
            files.append(
                ModelFile(
                    name=path.name,
                    size=stat.st_size,
                    modified=datetime.fromtimestamp(stat.st_mtime, timezone.utc),
                    sha256=digest(path),
                )
            )
    return sorted(files, key=lambda f: f.modified, reverse=True)


def page(engine, models_dir: Path) -> dict:
    """What the Models page shows: the files, the active one, the history."""
    files = model_files(models_dir)
    with session_scope(engine) as session:
        connection = session.connection()
        history = releases.history(connection)
        previous = releases.previous(connection)
    return {
        "files": files,
        "history": history,
        "active": history[0] if history else None,
        "previous": previous,
        "models_dir": str(models_dir),
    }


def activate(engine, models_dir: Path, name: str, by: str, ip: Optional[str]) -> str:
    """Makes a model file the active one; returns its digest. Audited.

    Raises:
        ModelError: no such model file (or not a model file's name).
    """
    path = model_path(models_dir, name)
    sha = digest(path)
    with session_scope(engine) as session:
        connection = session.connection()
        releases.activate(connection, name, sha, path.stat().st_size, by)
        audit.record(connection, by, "activate", "model", name, ip)
    return sha


def rollback(engine, models_dir: Path, by: str, ip: Optional[str]) -> str:
    """Activates the model that was active before the current one. Audited.

    Raises:
        ModelError: nothing to roll back to, or its file is gone or changed.
    """
    with session_scope(engine) as session:
        previous = releases.previous(session.connection())
    if previous is None:
        raise ModelError("there is no earlier model to roll back to")
    path = model_path(models_dir, previous["filename"])
    if digest(path) != previous["sha256"]:
        raise ModelError("the earlier model's file has changed since it ran")
    with session_scope(engine) as session:
        connection = session.connection()
        releases.activate(
            connection, path.name, previous["sha256"], path.stat().st_size, by
        )
        audit.record(connection, by, "rollback", "model", path.name, ip)
    return previous["sha256"]


def served(engine, models_dir: Path) -> Optional[Tuple[Path, str]]:
    """The active model's file and digest, or None (none active, gone, changed)."""
    with session_scope(engine) as session:
        current = releases.active(session.connection())
    if current is None:
        return None
    try:
        path = model_path(models_dir, current["filename"])
    except ModelError:
        return None
    return (path, current["sha256"]) if digest(path) == current["sha256"] else None
