"""The active model: `model_activations` (append-only; the newest row is active).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "model_activations"


def upgrade() -> None:
    """Creates the table."""
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("activated_by", sa.String(254), nullable=False),
        sa.Column(
            "activated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{TABLE}"),
        sa.CheckConstraint(
            "length(filename) BETWEEN 1 AND 255", name=f"ck_{TABLE}_filename_length"
        ),
        sa.CheckConstraint(
            "length(sha256) BETWEEN 1 AND 64", name=f"ck_{TABLE}_sha256_length"
        ),
        sa.CheckConstraint(
            "length(activated_by) BETWEEN 1 AND 254",
            name=f"ck_{TABLE}_activated_by_length",
        ),
    )
    op.create_index(f"ix_{TABLE}_activated_at", TABLE, ["activated_at"])


def downgrade() -> None:
    """Drops the table."""
    op.drop_index(f"ix_{TABLE}_activated_at", TABLE)
    op.drop_table(TABLE)
