"""Do all the product's PostgreSQL connections fit in the server's limit?

Each process holds one engine (`bot.db.engine`), each engine up to
`DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW` connections; a Rasa worker holds two
(the conversation store's and the product's), an action-server worker and the staff
console one each. With `WORKERS=N` that is `(3N + 1) × (pool + overflow)`, which must
stay below the server's `max_connections` minus the connections it reserves for
superusers. `make run` checks it before it starts anything, so a deployment that
would fail under load ("too many clients") is refused at start-up with the figures.
SQLite has no such limit.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import text
from sqlalchemy.engine import make_url

ENGINES_PER_RASA_WORKER = 2  # the conversation store's and the product's
ENGINES_PER_ACTION_WORKER = 1
ENGINES_ELSEWHERE = 1  # the staff console


def connections_needed(workers: int, pool_size: int, max_overflow: int) -> int:
    """The most connections the product's processes can open at once."""
    engines = (
        workers * (ENGINES_PER_RASA_WORKER + ENGINES_PER_ACTION_WORKER)
        + ENGINES_ELSEWHERE
    )
    return engines * (pool_size + max_overflow)


def over_budget(
    url: str, workers: int, pool_size: int, max_overflow: int
) -> Optional[str]:
    """Why the connections would not fit (a sentence for the operator), or None.

    Asks the PostgreSQL server at `url` for `max_connections` and
    `superuser_reserved_connections`; SQLite always fits.
    """
    if make_url(url).get_backend_name() != "postgresql":
        return None
    from bot.db.engine import get_engine

    with get_engine(url).connect() as connection:
        limit = int(connection.execute(text("SHOW max_connections")).scalar_one())
        reserved = int(
            connection.execute(text("SHOW superuser_reserved_connections")).scalar_one()
        )
    available = limit - reserved
    needed = connections_needed(workers, pool_size, max_overflow)
    if needed <= available:
        return None
    return (
        f"WORKERS={workers} with DATABASE_POOL_SIZE={pool_size} and "
        f"DATABASE_MAX_OVERFLOW={max_overflow} may open {needed} PostgreSQL "
        f"connections, but the server allows {available} "
        f"(max_connections {limit} - {reserved} reserved). Lower one of them, or "
        "raise max_connections."
    )
