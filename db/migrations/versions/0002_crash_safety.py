"""crash safety: enqueue bookkeeping for the sweeper, ambiguous resend counts

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()")
    op.add_column(
        "messages", sa.Column("enqueued_at", sa.DateTime(timezone=True), server_default=now, nullable=False)
    )
    op.add_column(
        "messages",
        sa.Column("ambiguous_resends", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "webhook_inbox",
        sa.Column("enqueued_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
    )
    op.drop_index("ix_messages_sending", table_name="messages")
    op.create_index(
        "ix_messages_sending",
        "messages",
        ["enqueued_at"],
        postgresql_where=sa.text("status = 'sending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_sending", table_name="messages")
    op.create_index(
        "ix_messages_sending",
        "messages",
        ["created_at"],
        postgresql_where=sa.text("status = 'sending'"),
    )
    op.drop_column("webhook_inbox", "enqueued_at")
    op.drop_column("messages", "ambiguous_resends")
    op.drop_column("messages", "enqueued_at")
