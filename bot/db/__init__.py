"""The project's own tables (intake requests, handoffs), next to Rasa's `events`.

- `bot.db.engine`: the one place that builds engines and sessions from `DATABASE_URL`.
- `bot.db.models`: the tables, with their limits and allowed values.
- `bot.db.repository`: the functions the actions and the staff console call.
- `bot.db.migrate`: Alembic migrations (`python -m bot.db.migrate`).

Typical use in an action::

    from bot.db.engine import session_scope
    from bot.db.repository import save_intake

    with session_scope() as session:
        intake, created = save_intake(session, conversation_id=..., ...)
"""
