"""Staff console: idle timeout of sessions, sign-in throttling per client address.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.

- `console_sessions.last_seen_at`: when the session last made a request (NULL
  until the first write; sessions of before this revision count from sign-in).
- `ix_console_audit_log_client_ip` (`client_ip`, `at`): counts the recent failed
  sign-ins of one client address without scanning the log.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds the session's last request time and the per-address audit index."""
    op.add_column(
        "console_sessions",
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_console_audit_log_client_ip", "console_audit_log", ["client_ip", "at"]
    )


def downgrade() -> None:
    """Drops the index and the column."""
    op.drop_index("ix_console_audit_log_client_ip", table_name="console_audit_log")
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("last_seen_at")
