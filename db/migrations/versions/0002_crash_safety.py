"""crash safety: sweeper bookkeeping, ambiguous resends, channel pause, delivery attempts

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
    op.add_column("channels", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("channels", sa.Column("pause_reason", sa.Text(), nullable=True))
    op.add_column("channels", sa.Column("pause_code", sa.String(length=32), nullable=True))
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_title", sa.Text(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("fbtrace_id", sa.String(length=128), nullable=True),
        sa.Column("provider_message_id", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_delivery_attempts_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
    )
    op.create_index(
        op.f("ix_delivery_attempts_message_id"), "delivery_attempts", ["message_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_attempts_message_id"), table_name="delivery_attempts")
    op.drop_table("delivery_attempts")
    op.drop_column("channels", "pause_code")
    op.drop_column("channels", "pause_reason")
    op.drop_column("channels", "paused_at")
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
