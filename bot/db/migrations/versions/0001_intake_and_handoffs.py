"""Intake requests and handoffs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INTAKE_STATUSES = "status IN ('new', 'contacted', 'scheduled', 'closed')"
HANDOFF_REASONS = (
    "reason IN ('requested', 'fallback', 'medical_advice', 'logistics', 'crisis')"
)
HANDOFF_STATUSES = "status IN ('open', 'claimed', 'closed')"
HANDOFF_ACTIVE = "status IN ('open', 'claimed')"


def upgrade() -> None:
    """Creates `intake_requests` and `handoffs` with their checks and indexes."""
    op.create_table(
        "intake_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("submission_key", sa.String(128), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("condition", sa.String(2000), nullable=False),
        sa.Column("best_time", sa.String(200), nullable=False),
        sa.Column(
            "consent",
            sa.Boolean(create_constraint=True, name="ck_intake_requests_consent_bool"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), server_default="new", nullable=False),
        sa.Column("notes", sa.String(4000), nullable=True),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notify_error", sa.String(1000), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_intake_requests"),
        sa.UniqueConstraint("submission_key", name="uq_intake_requests_submission_key"),
        sa.CheckConstraint(INTAKE_STATUSES, name="ck_intake_requests_status"),
        sa.CheckConstraint(
            "length(conversation_id) BETWEEN 1 AND 255",
            name="ck_intake_requests_conversation_id_length",
        ),
        sa.CheckConstraint(
            "length(channel) BETWEEN 1 AND 64",
            name="ck_intake_requests_channel_length",
        ),
        sa.CheckConstraint(
            "length(submission_key) BETWEEN 1 AND 128",
            name="ck_intake_requests_submission_key_length",
        ),
        sa.CheckConstraint(
            "length(full_name) BETWEEN 1 AND 200",
            name="ck_intake_requests_full_name_length",
        ),
        sa.CheckConstraint(
            "length(phone_e164) BETWEEN 1 AND 20",
            name="ck_intake_requests_phone_e164_length",
        ),
        sa.CheckConstraint(
            "length(email) BETWEEN 0 AND 254",
            name="ck_intake_requests_email_length",
        ),
        sa.CheckConstraint(
            "length(condition) BETWEEN 1 AND 2000",
            name="ck_intake_requests_condition_length",
        ),
        sa.CheckConstraint(
            "length(best_time) BETWEEN 1 AND 200",
            name="ck_intake_requests_best_time_length",
        ),
        sa.CheckConstraint(
            "length(notes) BETWEEN 0 AND 4000",
            name="ck_intake_requests_notes_length",
        ),
        sa.CheckConstraint(
            "length(notify_error) BETWEEN 0 AND 1000",
            name="ck_intake_requests_notify_error_length",
        ),
    )
    op.create_index(
        "ix_intake_requests_conversation_id", "intake_requests", ["conversation_id"]
    )
    op.create_index("ix_intake_requests_status", "intake_requests", ["status"])
    op.create_index("ix_intake_requests_created_at", "intake_requests", ["created_at"])

    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        sa.Column(
            "urgent",
            sa.Boolean(create_constraint=True, name="ck_handoffs_urgent_bool"),
            server_default=sa.false(),
            nullable=False,
        ),
        sa.Column("summary", sa.String(2000), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
        sa.CheckConstraint(HANDOFF_REASONS, name="ck_handoffs_reason"),
        sa.CheckConstraint(HANDOFF_STATUSES, name="ck_handoffs_status"),
        sa.CheckConstraint(
            "length(conversation_id) BETWEEN 1 AND 255",
            name="ck_handoffs_conversation_id_length",
        ),
        sa.CheckConstraint(
            "length(channel) BETWEEN 1 AND 64", name="ck_handoffs_channel_length"
        ),
        sa.CheckConstraint(
            "length(summary) BETWEEN 0 AND 2000", name="ck_handoffs_summary_length"
        ),
        sa.CheckConstraint(
            "length(claimed_by) BETWEEN 0 AND 200",
            name="ck_handoffs_claimed_by_length",
        ),
    )
    op.create_index("ix_handoffs_conversation_id", "handoffs", ["conversation_id"])
    op.create_index("ix_handoffs_status", "handoffs", ["status"])
    op.create_index("ix_handoffs_created_at", "handoffs", ["created_at"])
    # At most one open or claimed handoff per conversation.
    op.create_index(
        "uq_handoffs_active_conversation",
        "handoffs",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text(HANDOFF_ACTIVE),
        postgresql_where=sa.text(HANDOFF_ACTIVE),
    )


def downgrade() -> None:
    """Drops the two tables (and with them every request and handoff)."""
    op.drop_table("handoffs")
    op.drop_table("intake_requests")
