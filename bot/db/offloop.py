"""The one way to run blocking work (database, HTTP) off the event loop.

SQLAlchemy 1.4 is synchronous and a query may wait on SQLite's write lock, so
async code (the console's Sanic handlers, the SMS channel, the actions, the
tracker store) runs such work in the default thread pool. `asyncio.to_thread`
also carries the caller's context variables into the thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs `fn(*args, **kwargs)` in a worker thread and returns its result."""
    return await asyncio.to_thread(fn, *args, **kwargs)
