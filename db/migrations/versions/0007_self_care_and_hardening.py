"""worker nodes and the leader's maintenance runs; channel send rates (issue 11); keys,
webhook quarantine and attempt history (issue 12)

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- worker nodes and leadership
    op.create_table(
        "worker_nodes",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leader_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("node_id", sa.String(128), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", JSONB(), nullable=True),
    )
    op.create_index("ix_maintenance_runs_started_at", "maintenance_runs", ["started_at"])
    # --- pacing
    op.add_column(
        "channels",
        sa.Column("send_rate_mps", sa.Integer(), server_default=sa.text("80"), nullable=False),
    )
    # --- retention
    # The pruner deletes by age in batches. BRIN indexes on the append-only logs cost next to
    # nothing per insert (the webhook POST and the record of a send are the hottest writes);
    # a parked status is deleted by the applier too, so its age gets a B-tree.
    op.create_index(
        "ix_webhook_inbox_received_at", "webhook_inbox", ["received_at"], postgresql_using="brin"
    )
    op.create_index(
        "ix_delivery_attempts_finished_at",
        "delivery_attempts",
        ["finished_at"],
        postgresql_using="brin",
    )
    op.create_index("ix_pending_statuses_created_at", "pending_statuses", ["created_at"])
    # The pruner keeps an inbox row a parked status still refers to: a lookup, not a scan.
    op.create_index("ix_pending_statuses_webhook_id", "pending_statuses", ["webhook_id"])
    # --- webhook items and quarantine
    op.add_column(
        "webhook_inbox",
        sa.Column("tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "webhook_inbox", sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("webhook_inbox", sa.Column("item_errors", JSONB(), nullable=True))
    op.add_column(
        "webhook_inbox", sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("pending_statuses", sa.Column("company_id", sa.UUID(), nullable=True))
    # A parked status belongs to the company of the channel it arrived on; one for a number
    # no company has could never be applied.
    op.execute(
        "UPDATE pending_statuses p SET company_id = c.company_id FROM channels c "
        "WHERE c.phone_number_id = p.phone_number_id"
    )
    op.execute("DELETE FROM pending_statuses WHERE company_id IS NULL")
    op.alter_column("pending_statuses", "company_id", nullable=False)
    op.create_foreign_key(
        "fk_pending_statuses_company_id_companies",
        "pending_statuses",
        "companies",
        ["company_id"],
        ["id"],
    )
    # --- retries start a new attempt
    op.add_column(
        "messages",
        sa.Column("earlier_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.create_table(
        "retired_wamids",
        sa.Column("wamid", sa.String(256), primary_key=True),
        sa.Column("message_id", sa.UUID(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column(
            "retired_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_retired_wamids_message_id", "retired_wamids", ["message_id"])
    # --- api keys and rate limits
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_keys", sa.Column("rate_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    # --- api keys and rate limits
    op.drop_column("api_keys", "rate_limit")
    op.drop_column("api_keys", "last_used_at")
    # --- retries start a new attempt
    op.drop_index("ix_retired_wamids_message_id", table_name="retired_wamids")
    op.drop_table("retired_wamids")
    op.drop_column("messages", "earlier_attempts")
    # --- webhook items and quarantine
    op.drop_constraint(
        "fk_pending_statuses_company_id_companies", "pending_statuses", type_="foreignkey"
    )
    op.drop_column("pending_statuses", "company_id")
    op.drop_column("webhook_inbox", "next_try_at")
    op.drop_column("webhook_inbox", "item_errors")
    op.drop_column("webhook_inbox", "quarantined_at")
    op.drop_column("webhook_inbox", "tries")
    # --- retention
    op.drop_index("ix_pending_statuses_webhook_id", table_name="pending_statuses")
    op.drop_index("ix_pending_statuses_created_at", table_name="pending_statuses")
    op.drop_index("ix_delivery_attempts_finished_at", table_name="delivery_attempts")
    op.drop_index("ix_webhook_inbox_received_at", table_name="webhook_inbox")
    # --- pacing
    op.drop_column("channels", "send_rate_mps")
    # --- worker nodes and leadership
    op.drop_index("ix_maintenance_runs_started_at", table_name="maintenance_runs")
    op.drop_table("maintenance_runs")
    op.drop_table("worker_nodes")
