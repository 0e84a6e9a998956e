"""SMS opt-outs and outbound SMS records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MESSAGE_STATUSES = "status IN ('queued', 'sent', 'failed', 'blocked')"


def _length(table: str, column: str, low: int, high: int) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"length({column}) BETWEEN {low} AND {high}",
        name=f"ck_{table}_{column}_length",
    )


def _timestamp(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    """Creates `sms_opt_outs` and `sms_messages` with their checks and indexes."""
    op.create_table(
        "sms_opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column(
            "opted_out",
            sa.Boolean(create_constraint=True, name="ck_sms_opt_outs_opted_out_bool"),
            nullable=False,
        ),
        sa.Column("keyword", sa.String(32), nullable=False),
        _timestamp("changed_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_opt_outs"),
        sa.UniqueConstraint("phone_e164", name="uq_sms_opt_outs_phone_e164"),
        _length("sms_opt_outs", "phone_e164", 1, 20),
        _length("sms_opt_outs", "keyword", 1, 32),
    )

    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("body", sa.String(1600), nullable=True),
        sa.Column("buttons", sa.String(4000), nullable=True),
        sa.Column("status", sa.String(16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("twilio_sid", sa.String(64), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_messages"),
        sa.CheckConstraint(MESSAGE_STATUSES, name="ck_sms_messages_status"),
        sa.CheckConstraint("attempts >= 0", name="ck_sms_messages_attempts_positive"),
        _length("sms_messages", "conversation_id", 1, 255),
        _length("sms_messages", "phone_e164", 1, 20),
        _length("sms_messages", "body", 0, 1600),
        _length("sms_messages", "buttons", 0, 4000),
        _length("sms_messages", "error_code", 0, 32),
        _length("sms_messages", "twilio_sid", 0, 64),
    )
    op.create_index(
        "ix_sms_messages_conversation_id", "sms_messages", ["conversation_id"]
    )
    op.create_index("ix_sms_messages_phone_e164", "sms_messages", ["phone_e164"])
    op.create_index("ix_sms_messages_created_at", "sms_messages", ["created_at"])


def downgrade() -> None:
    """Drops the two SMS tables (opt-outs and message records with them)."""
    op.drop_table("sms_messages")
    op.drop_table("sms_opt_outs")
