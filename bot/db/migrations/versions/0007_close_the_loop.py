"""Closing the loop: answer feedback, saved replies, handoff timing and notice.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.

- `answer_feedback`: one patient vote per curated answer (changeable), with an
  optional reason; unique on (`conversation_id`, `answer_id`).
- `saved_replies`: the admins' reply templates (title unique).
- `handoffs.first_reply_at`: staff's first reply (time to first reply);
  `handoffs.waiting_notice_at`: the patient was told the wait is longer than the
  target; `handoffs.notified_at` / `notify_error`: `handoff.created` reached
  `STAFF_NOTIFY_URL`, or why not.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _now(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def _length(table: str, column: str, low: int, high: int) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"length({column}) BETWEEN {low} AND {high}",
        name=f"ck_{table}_{column}_length",
    )


def upgrade() -> None:
    """Creates the two tables and adds the handoff columns."""
    op.create_table(
        "answer_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("answer_id", sa.String(64), nullable=False),
        sa.Column("answer_key", sa.String(128), nullable=False),
        sa.Column("vote", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_answer_feedback"),
        sa.UniqueConstraint("conversation_id", "answer_id", name="uq_answer_feedback"),
        sa.CheckConstraint(
            "vote IN ('helpful', 'not_helpful')", name="ck_answer_feedback_vote"
        ),
        _length("answer_feedback", "conversation_id", 1, 255),
        _length("answer_feedback", "answer_id", 1, 64),
        _length("answer_feedback", "answer_key", 1, 128),
        _length("answer_feedback", "reason", 0, 500),
    )
    op.create_index(
        "ix_answer_feedback_conversation_id", "answer_feedback", ["conversation_id"]
    )
    op.create_index("ix_answer_feedback_answer_key", "answer_feedback", ["answer_key"])
    op.create_table(
        "saved_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(80), nullable=False),
        sa.Column("body", sa.String(1600), nullable=False),
        sa.Column("created_by", sa.String(254), nullable=True),
        _now("created_at"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_saved_replies"),
        sa.UniqueConstraint("title", name="uq_saved_replies_title"),
        _length("saved_replies", "title", 1, 80),
        _length("saved_replies", "body", 1, 1600),
        _length("saved_replies", "created_by", 0, 254),
    )
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(
            sa.Column("first_reply_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("waiting_notice_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("notify_error", sa.String(1000), nullable=True))
        batch.create_check_constraint(
            "ck_handoffs_notify_error_length", "length(notify_error) BETWEEN 0 AND 1000"
        )


def downgrade() -> None:
    """Drops the handoff columns and the two tables."""
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint("ck_handoffs_notify_error_length", type_="check")
        batch.drop_column("notify_error")
        batch.drop_column("notified_at")
        batch.drop_column("waiting_notice_at")
        batch.drop_column("first_reply_at")
    op.drop_table("saved_replies")
    op.drop_index("ix_answer_feedback_answer_key", "answer_feedback")
    op.drop_index("ix_answer_feedback_conversation_id", "answer_feedback")
    op.drop_table("answer_feedback")
