"""SMS: the database as the send queue (order across processes and restarts).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08

Written out in full (not derived from bot.db.models), so later changes to the
models never change what this revision did. `test_schema_matches_models` checks the
two agree.

- `sms_messages.status` may also be `sending` (a request to Twilio under way) and
  `resending` (sent once more after a crash interrupted `sending`).
- `sms_messages.reply_id`: the parts of one reply share it (NULL on older rows).
- `ix_sms_messages_status_phone` (`status`, `phone_e164`, `id`): a number's next
  pending row, and the numbers with pending rows, without a scan.
- `sms_send_leases`: one row per number while a process delivers its rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('queued', 'sent', 'failed', 'blocked')"
NEW_STATUSES = (
    "status IN ('queued', 'sending', 'resending', 'sent', 'failed', 'blocked')"
)


def upgrade() -> None:
    """Adds the statuses, `reply_id`, the pending index and the lease table."""
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("reply_id", sa.String(32), nullable=True))
        batch.drop_constraint("ck_sms_messages_status", type_="check")
        batch.create_check_constraint("ck_sms_messages_status", NEW_STATUSES)
        batch.create_check_constraint(
            "ck_sms_messages_reply_id_length", "length(reply_id) BETWEEN 0 AND 32"
        )
        batch.create_index(
            "ix_sms_messages_status_phone", ["status", "phone_e164", "id"]
        )
    op.create_table(
        "sms_send_leases",
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_e164", name="pk_sms_send_leases"),
    )


def downgrade() -> None:
    """Drops the lease table and `reply_id`; `sending` rows go back to `queued`."""
    op.drop_table("sms_send_leases")
    op.execute(
        "UPDATE sms_messages SET status = 'queued' "
        "WHERE status IN ('sending', 'resending')"
    )
    with op.batch_alter_table("sms_messages") as batch:
        batch.drop_index("ix_sms_messages_status_phone")
        batch.drop_constraint("ck_sms_messages_reply_id_length", type_="check")
        batch.drop_constraint("ck_sms_messages_status", type_="check")
        batch.create_check_constraint("ck_sms_messages_status", OLD_STATUSES)
        batch.drop_column("reply_id")
