"""Answer analytics: how often a patient asked for a person right after an answer.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.

- `conversation_answers.then_human`: of the conversation's answers with that key,
  how many were followed by a request for a person (the next patient message had
  intent `request_human`, or the next thing was `action_handoff`). Derived from
  Rasa's events like the rest of the table (`bot.db.summaries`).
- The summaries' watermark is reset, so the next refresh recomputes every
  conversation and fills the new column (the derived tables are rebuilt in
  place; nothing else is lost).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds the column and makes the next refresh recompute every conversation."""
    op.add_column(
        "conversation_answers",
        sa.Column("then_human", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("DELETE FROM console_state WHERE name = 'summaries_watermark'")


def downgrade() -> None:
    """Drops the column."""
    with op.batch_alter_table("conversation_answers") as batch:
        batch.drop_column("then_human")
