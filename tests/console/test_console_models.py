"""The Models page and the model endpoint, over real HTTP against a running console.

The files here are stand-ins (random bytes named like models): the console only
lists, hashes and serves them. tests/test_model_server.py has real Rasa workers
pull real models from a real console.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from zoneinfo import ZoneInfo

import pytest
import requests

from bot.db.engine import dispose_engines, get_engine, session_scope
from bot.db.migrate import upgrade
from bot.db.queries import audit, releases
from tests.support.console import (
    STAFF,
    add_staff,
    form_token,
    http_sign_in,
    run_console,
)

TOKEN = secrets.token_urlsafe(32)
OLD, NEW = "20261201-100000-old.tar.gz", "20261207-100000-new.tar.gz"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A console serving a models directory with two model files."""
    tmp = tmp_path_factory.mktemp("models-console")
    folder = tmp / "models"
    folder.mkdir()
    files = {}
    for name in (OLD, NEW):
        data = os.urandom(200_000)
        (folder / name).write_bytes(data)
        files[name] = data
    os.utime(folder / OLD, (1_700_000_000, 1_700_000_000))
    url = f"sqlite:///{tmp / 'clinic.db'}"
    upgrade(url)
    env = {"MODELS_DIR": str(folder), "MODEL_SERVER_TOKEN": TOKEN}
    with run_console(url, tmp / "console.log", extra_env=env) as base_url:
        add_staff(url)
        yield base_url, url, folder, files
    dispose_engines()


def pull(base_url, token=TOKEN, etag=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if etag:
        headers["If-None-Match"] = etag
    return requests.get(base_url + "/model/active", headers=headers, **kwargs)


def activate(admin, base_url, name):
    page = admin.get(base_url + "/admin/models")
    return admin.post(
        base_url + "/admin/models/activate",
        data={"csrf_token": form_token(page.text), "name": name},
    )


def test_a_model_is_activated_served_and_rolled_back(site):
    base_url, db_url, _, files = site
    assert pull(base_url).status_code == 404  # nothing active yet
    admin = http_sign_in(base_url)
    page = admin.get(base_url + "/admin/models")
    assert page.status_code == 200 and OLD in page.text and NEW in page.text

    assert activate(admin, base_url, OLD).status_code == 200
    served = pull(base_url)
    assert served.status_code == 200 and served.content == files[OLD]
    assert served.headers["ETag"] == hashlib.sha256(files[OLD]).hexdigest()
    assert pull(base_url, etag=served.headers["ETag"]).status_code == 304
    assert pull(base_url, etag=f'"{served.headers["ETag"]}"').status_code == 304

    activate(admin, base_url, NEW)
    newer = pull(base_url, etag=served.headers["ETag"])  # a worker on OLD
    assert newer.status_code == 200 and newer.content == files[NEW]

    page = admin.get(base_url + "/admin/models")
    rolled = admin.post(
        base_url + "/admin/models/rollback", data={"csrf_token": form_token(page.text)}
    )
    assert rolled.status_code == 200
    assert pull(base_url).content == files[OLD]
    with session_scope(get_engine(db_url)) as session:
        history = releases.history(session.connection())
        entries, _ = audit.list_audit(
            session.connection(), audit.AuditFilter(), ZoneInfo("UTC")
        )
    assert [h["filename"] for h in history] == [OLD, NEW, OLD]
    assert {"activate", "rollback"} <= {e["action"] for e in entries}


def test_the_endpoint_answers_only_with_the_token(site):
    base_url = site[0]
    assert pull(base_url, token=None).status_code == 401
    assert pull(base_url, token="x" * 43).status_code == 401
    # Never in the URL, where it would be logged.
    in_query = requests.get(base_url + "/model/active", params={"token": TOKEN})
    assert in_query.status_code == 401
    basic = requests.get(base_url + "/model/active", auth=("rasa", TOKEN))
    assert basic.status_code == 401


def test_staff_cannot_change_the_model(site):
    base_url = site[0]
    staff = http_sign_in(base_url, STAFF)
    assert staff.get(base_url + "/admin/models").status_code == 403
    page = staff.get(base_url + "/")
    answer = staff.post(
        base_url + "/admin/models/activate",
        data={"csrf_token": form_token(page.text), "name": NEW},
    )
    assert answer.status_code == 403


def test_a_name_outside_the_models_directory_is_refused(site):
    base_url, db_url, folder, _ = site
    (folder.parent / "secret.tar.gz").write_bytes(b"not for workers")
    admin = http_sign_in(base_url)
    with session_scope(get_engine(db_url)) as session:
        before = len(releases.history(session.connection()))
    for name in ("../secret.tar.gz", "/etc/passwd", "models/../../x.tar.gz", ""):
        assert activate(admin, base_url, name).status_code == 400
    with session_scope(get_engine(db_url)) as session:
        assert len(releases.history(session.connection())) == before


def test_a_file_changed_after_activation_is_not_served(site):
    base_url, _, folder, files = site
    admin = http_sign_in(base_url)
    activate(admin, base_url, NEW)
    assert pull(base_url).status_code == 200
    (folder / NEW).write_bytes(b"replaced under the same name")
    assert pull(base_url).status_code == 404
    (folder / NEW).write_bytes(files[NEW])
    assert pull(base_url).content == files[NEW]
