"""Storage: the project's tables, every query on them, Rasa's events read-only.

`bot.db` imports nothing above it (console, channels, handoff, actions).

- `bot.db.engine`: the one place that builds engines and sessions from `DATABASE_URL`.
- `bot.db.models`: every table (declared per area in `bot.db.tables`), with their
  limits and allowed values.
- `bot.db.repository`: the functions the actions and the handoff call.
- `bot.db.queries`: the staff console's queries, one module per resource.
- `bot.db.events`: the one reader of Rasa's `events` table.
- `bot.db.summaries`: conversation summaries derived from those events.
- `bot.db.retention`: purge, forget and the forget marks (pseudonyms).
- `bot.db.offloop`: the one way to run database work off the event loop.
- `bot.db.tracker_store`: Rasa's tracker store, with our locks and forget guard.
- `bot.db.migrate`: Alembic migrations (`python -m bot.db.migrate`).

Typical use in an action::

    from bot.db.engine import session_scope
    from bot.db.repository import save_intake

    with session_scope() as session:
        intake, created = save_intake(session, conversation_id=..., ...)
"""
