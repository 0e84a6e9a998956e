"""The conversation lock store on a real Redis (skipped with a message without one).

Two `ClinicLockStore`s on one Redis stand for two Rasa workers.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
import redis
from rasa.core.lock_store import LockError

from bot.workers.locks import KEY_PREFIX, ClinicLockStore


@pytest.fixture
def stores(redis_url):
    return ClinicLockStore(redis_url=redis_url), ClinicLockStore(redis_url=redis_url)


def conversation() -> str:
    return f"lock-test-{uuid.uuid4().hex[:8]}"


def test_tickets_issued_at_once_by_two_workers_are_all_different(stores):
    conversation_id = conversation()
    tickets: list = []
    start = threading.Barrier(8)

    def issue(store):
        start.wait()
        for _ in range(25):
            tickets.append(store.issue_ticket(conversation_id))

    threads = [threading.Thread(target=issue, args=(stores[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Rasa's RedisLockStore reads, changes and writes back: two workers could both
    # get the same number and handle two messages of one conversation at once.
    assert sorted(tickets) == list(range(200))
    assert len(stores[0].get_lock(conversation_id).tickets) == 200


async def test_one_turn_at_a_time_across_two_workers(stores):
    conversation_id = conversation()
    trace: list = []

    async def turn(store, name):
        async with store.lock(conversation_id, wait_time_in_seconds=0.01):
            trace.append(f"{name} begins")
            await asyncio.sleep(0.05)
            trace.append(f"{name} ends")

    await asyncio.gather(*(turn(stores[i % 2], f"turn{i}") for i in range(6)))
    for index in range(0, len(trace), 2):  # never two turns inside each other
        assert trace[index].split()[0] == trace[index + 1].split()[0], trace
        assert trace[index].endswith("begins") and trace[index + 1].endswith("ends")
    assert stores[0].get_lock(conversation_id) is None  # cleaned up when done


def test_a_lock_left_by_a_killed_worker_expires(stores, redis_url):
    conversation_id = conversation()
    stores[0].issue_ticket(conversation_id, lock_lifetime=5)
    ttl = redis.Redis.from_url(redis_url).ttl(KEY_PREFIX + conversation_id)
    assert 5 < ttl <= 5 + 61  # the ticket's lifetime plus a margin, not forever


def test_the_last_ticket_served_removes_the_lock(stores, redis_url):
    conversation_id = conversation()
    first = stores[0].issue_ticket(conversation_id)
    second = stores[1].issue_ticket(conversation_id)
    stores[1].cleanup(conversation_id, first)
    assert stores[0].get_lock(conversation_id).now_serving == second
    stores[0].cleanup(conversation_id, second)
    assert not redis.Redis.from_url(redis_url).exists(KEY_PREFIX + conversation_id)


def test_dropped_connections_are_made_again(stores, redis_url):
    conversation_id = conversation()
    stores[0].issue_ticket(conversation_id)
    # As a Redis restart looks to a client: every connection closed under it.
    redis.Redis.from_url(redis_url).client_kill_filter(_type="normal", skipme=True)
    assert stores[0].issue_ticket(conversation_id) == 1


def test_redis_down_is_a_lock_error_naming_no_conversation():
    store = ClinicLockStore(redis_url="redis://127.0.0.1:1/0")  # nobody listens
    with pytest.raises(LockError) as error:
        store.issue_ticket("patient-secret-id")
    assert "patient-secret-id" not in str(error.value)


def test_without_redis_the_locks_stay_in_memory():
    store = ClinicLockStore(redis_url="")
    assert not store.shared
    conversation_id = conversation()
    assert [store.issue_ticket(conversation_id) for _ in range(3)] == [0, 1, 2]
    store.cleanup(conversation_id, 0)
    assert store.get_lock(conversation_id).now_serving == 1
