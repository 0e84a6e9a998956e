"""Staff console: display names, second factor, password resets, handoff leases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.

- `console_users`: `display_name` (what patients see on a staff reply),
  `totp_secret` (encrypted) and `totp_last_step` (a code works once),
  `password_changed_at`, and an admin-issued reset (`reset_token_hash`, unique,
  and `reset_expires_at`).
- `console_sessions`: `stage` ("full", or "totp" between the password and the
  second factor; existing sessions are full) and `totp_setup_secret`.
- `console_handoff_locks`: one lease row per handoff while a reply or a hand-back
  is under way (no foreign key: deleting a handoff never waits on a lease).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Adds the columns and the lease table."""
    with op.batch_alter_table("console_users") as batch:
        batch.add_column(sa.Column("display_name", sa.String(80), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.String(255), nullable=True))
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("reset_token_hash", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("reset_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_index(
            "ix_console_users_reset_token_hash", ["reset_token_hash"], unique=True
        )
    with op.batch_alter_table("console_sessions") as batch:
        batch.add_column(
            sa.Column("stage", sa.String(16), server_default="full", nullable=False)
        )
        batch.add_column(sa.Column("totp_setup_secret", sa.String(255), nullable=True))
        batch.create_check_constraint(
            "ck_console_sessions_stage", "stage IN ('full', 'totp')"
        )
    op.create_table(
        "console_handoff_locks",
        sa.Column("handoff_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("handoff_id", name="pk_console_handoff_locks"),
    )


def downgrade() -> None:
    """Drops the lease table and the columns."""
    op.drop_table("console_handoff_locks")
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_constraint("ck_console_sessions_stage", type_="check")
        batch.drop_column("totp_setup_secret")
        batch.drop_column("stage")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_index("ix_console_users_reset_token_hash")
        for column in (
            "reset_expires_at",
            "reset_token_hash",
            "password_changed_at",
            "totp_last_step",
            "totp_secret",
            "display_name",
        ):
            batch.drop_column(column)
