"""The action server's access to the project's own tables, off the event loop.

Repository calls are synchronous (SQLAlchemy 1.4) and may wait on SQLite's write lock,
so actions run them in a worker thread (`bot.db.offloop`). Any database failure
becomes `StoreError`, which actions turn into a clear message for the patient;
nothing patient-related is written to the log.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(RuntimeError):
    """The database could not be reached or refused the write."""


def _in_session(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.engine import get_engine, session_scope

    try:
        with session_scope(get_engine()) as session:
            return work(session, *args, **kwargs)
    except SQLAlchemyError as error:
        # The class name only: SQL errors can quote the values being written.
        logger.error("Database error in %s: %s", work.__name__, type(error).__name__)
        raise StoreError(type(error).__name__) from None


async def run(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs `work(session, *args, **kwargs)` in a transaction, in a worker thread."""
    from bot.db.offloop import off_loop

    return await off_loop(_in_session, work, *args, **kwargs)
