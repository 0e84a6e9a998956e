"""DATABASE_URL switches Rasa's tracker store: real SQLite and real PostgreSQL."""

import uuid

import pytest
from rasa.core.tracker_store import SQLTrackerStore, create_tracker_store
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.support.paths import ROOT


def store_for(url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ACTION_SERVER_URL", "http://127.0.0.1:5055/webhook")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "test-action-server-token")
    endpoints = read_endpoints_from_path(str(ROOT / "endpoints.yml"))
    domain = Domain.load(str(ROOT / "domain.yml"))
    return create_tracker_store(endpoints.tracker_store, domain), domain


async def round_trip(store, domain):
    sender = f"patient-{uuid.uuid4().hex[:8]}"
    tracker = DialogueStateTracker(sender, domain.slots)
    tracker.update(UserUttered("is it safe? 🙂 '; drop table events; --"))
    tracker.update(SlotSet("crisis_flagged", True))
    await store.save(tracker)
    loaded = await store.retrieve(sender)
    assert loaded.latest_message.text == "is it safe? 🙂 '; drop table events; --"
    assert loaded.get_slot("crisis_flagged") is True


async def test_sqlite_by_url(tmp_path, monkeypatch):
    store, domain = store_for(f"sqlite:///{tmp_path / 'rasa.db'}", monkeypatch)
    assert isinstance(store, SQLTrackerStore)
    assert store.engine.dialect.name == "sqlite"
    await round_trip(store, domain)
    assert (tmp_path / "rasa.db").exists()


@pytest.mark.postgres
async def test_postgresql_by_url(postgres_url, monkeypatch):
    store, domain = store_for(postgres_url, monkeypatch)
    assert isinstance(store, SQLTrackerStore)
    assert store.engine.dialect.name == "postgresql"
    await round_trip(store, domain)
