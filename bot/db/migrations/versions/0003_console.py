"""Staff console: accounts, sessions, conversation summaries, reviews, audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree. Rasa's `events` table is not touched: the console reads it and keeps
its own derived `conversation_summaries` (see bot/db/summaries.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = (
    "console_state",
    "console_audit_log",
    "message_corrections",
    "conversation_tags",
    "conversation_reviews",
    "conversation_answers",
    "conversation_summaries",
    "console_sessions",
    "console_users",
)


def _now(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _flag(table: str, name: str) -> sa.Column:
    return sa.Column(
        name,
        sa.Boolean(create_constraint=True, name=f"ck_{table}_{name}_bool"),
        server_default=sa.false(),
        nullable=False,
    )


def _accounts() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), server_default="staff", nullable=False),
        sa.Column(
            "active",
            sa.Boolean(create_constraint=True, name="ck_console_users_active_bool"),
            server_default=sa.true(),
            nullable=False,
        ),
        sa.Column("failed_logins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_console_users"),
        sa.UniqueConstraint("email", name="uq_console_users_email"),
        sa.CheckConstraint("role IN ('staff', 'admin')", name="ck_console_users_role"),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _now("created_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_console_sessions"),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["console_users.id"],
            name="fk_sessions_user",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_console_sessions_user_id", "console_sessions", ["user_id"])
    op.create_index(
        "ix_console_sessions_expires_at", "console_sessions", ["expires_at"]
    )


def _summaries() -> None:
    table = "conversation_summaries"
    op.create_table(
        table,
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(64), nullable=True),
        sa.Column("first_at", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("fallback_count", sa.Integer(), nullable=False),
        _flag(table, "answered"),
        _flag(table, "fallback"),
        _flag(table, "handoff"),
        _flag(table, "crisis"),
        _flag(table, "intake"),
        sa.Column("first_message", sa.String(500), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_summaries"),
    )
    op.create_index("ix_conversation_summaries_channel", table, ["channel"])
    op.create_index("ix_conversation_summaries_last_at", table, ["last_at"])
    op.create_table(
        "conversation_answers",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("answer_key", sa.String(128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "conversation_id", "answer_key", name="pk_conversation_answers"
        ),
    )
    op.create_index(
        "ix_conversation_answers_answer_key", "conversation_answers", ["answer_key"]
    )
    op.create_table(
        "console_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_console_state"),
    )


def _staff_work() -> None:
    op.create_table(
        "conversation_reviews",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), server_default="unreviewed", nullable=False),
        sa.Column("note", sa.String(4000), nullable=True),
        sa.Column("updated_by", sa.String(254), nullable=True),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("conversation_id", name="pk_conversation_reviews"),
        sa.CheckConstraint(
            "status IN ('unreviewed', 'reviewed')",
            name="ck_conversation_reviews_status",
        ),
        sa.CheckConstraint(
            "length(note) BETWEEN 0 AND 4000",
            name="ck_conversation_reviews_note_length",
        ),
    )
    op.create_table(
        "conversation_tags",
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=True),
        _now("created_at"),
        sa.PrimaryKeyConstraint("conversation_id", "tag", name="pk_conversation_tags"),
    )
    op.create_index("ix_conversation_tags_tag", "conversation_tags", ["tag"])
    op.create_table(
        "message_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("predicted", sa.String(160), nullable=True),
        sa.Column("corrected", sa.String(160), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=False),
        _now("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_message_corrections"),
        sa.UniqueConstraint("event_id", name="uq_message_corrections_event_id"),
    )
    op.create_index(
        "ix_message_corrections_conversation_id",
        "message_corrections",
        ["conversation_id"],
    )
    op.create_table(
        "console_audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        _now("at"),
        sa.Column("user_email", sa.String(254), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_console_audit_log"),
    )
    op.create_index("ix_console_audit_log_at", "console_audit_log", ["at"])
    op.create_index(
        "ix_console_audit_log_object_id", "console_audit_log", ["object_id"]
    )


def upgrade() -> None:
    """Creates the console's tables and indexes."""
    _accounts()
    _summaries()
    _staff_work()


def downgrade() -> None:
    """Drops the console's tables (accounts, reviews, notes and the audit log)."""
    for table in TABLES:
        op.drop_table(table)
