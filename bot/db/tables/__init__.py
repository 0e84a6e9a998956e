"""The project's tables, one module per area; `bot.db.models` gathers them all."""
