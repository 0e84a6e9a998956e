"""`CHAT_RATE_LIMIT` shared by every worker, on a real Redis (skipped without one).

Two `SharedRateLimiter`s on one Redis stand for two workers.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from bot.channels.limits import RateLimiter
from bot.workers.ratelimit import SharedRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def workers(redis_url, clock):
    return [
        SharedRateLimiter(5, 60, redis_url, fallback=RateLimiter(5, 60), clock=clock)
        for _ in range(2)
    ]


def sender() -> str:
    return f"rest:rate-{uuid.uuid4().hex[:8]}"


def test_two_workers_count_one_limit(workers, clock):
    key = sender()
    allowed = [workers[i % 2].retry_after(key) for i in range(8)]
    assert allowed[:5] == [None] * 5  # the limit, whichever worker took them
    assert all(wait is not None and 1 <= wait <= 60 for wait in allowed[5:])
    clock.now += 61  # the window has passed
    assert workers[1].retry_after(key) is None


def test_the_last_allowed_message_goes_through_once_under_a_race(workers):
    key = sender()
    results: list = []
    start = threading.Barrier(10)

    def hit(limiter):
        start.wait()
        results.append(limiter.retry_after(key))

    threads = [threading.Thread(target=hit, args=(workers[i % 2],)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 5


def test_a_message_counts_for_all_its_keys_or_none(workers):
    session, socket = sender(), sender()
    for _ in range(5):
        assert workers[0].retry_after(session) is None
    assert workers[1].retry_after(session, socket) is not None
    # Refused: the socket's count did not grow.
    for _ in range(5):
        assert workers[1].retry_after(socket) is None


def test_without_redis_each_worker_limits_on_its_own(clock):
    down = SharedRateLimiter(
        2, 60, "redis://127.0.0.1:1/0", fallback=RateLimiter(2, 60), clock=clock
    )
    key = sender()
    assert [down.retry_after(key) for _ in range(3)][:2] == [None, None]
    assert down.retry_after(key) is not None  # still limited, never unlimited
    # Messages meanwhile do not wait on Redis (this runs on the event loop).
    import time

    assert down._redis_down_until > time.monotonic()


def test_after_redis_failed_the_next_messages_count_in_memory(redis_url, clock):
    limiter = SharedRateLimiter(
        2, 60, redis_url, fallback=RateLimiter(2, 60), clock=clock
    )
    key = sender()
    assert limiter.retry_after(key) is None  # counted in Redis
    limiter._redis_down_until = float("inf")  # as after a failure
    assert [limiter.retry_after(key) for _ in range(2)] == [None, None]  # memory
    assert limiter.retry_after(key) is not None


def test_one_worker_keeps_the_limit_in_memory(monkeypatch):
    monkeypatch.delenv("WORKERS", raising=False)
    from bot.settings.workers import get_worker_settings

    get_worker_settings.cache_clear()
    assert isinstance(RateLimiter.shared(3, 10), RateLimiter)
    monkeypatch.setenv("WORKERS", "2")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/5")
    get_worker_settings.cache_clear()
    try:
        assert isinstance(RateLimiter.shared(3, 10), SharedRateLimiter)
    finally:
        get_worker_settings.cache_clear()
