"""operations: the audit trail of operator actions and the messages each one touched

Revision ID: 0004
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "operator_actions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("company_id", sa.UUID(), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_operator_actions_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_actions")),
    )
    op.create_index(op.f("ix_operator_actions_at"), "operator_actions", ["at"])
    op.create_table(
        "operator_action_messages",
        sa.Column("action_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["operator_actions.id"],
            name=op.f("fk_operator_action_messages_action_id_operator_actions"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_operator_action_messages_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("action_id", "message_id", name=op.f("pk_operator_action_messages")),
    )
    op.create_index(
        op.f("ix_operator_action_messages_message_id"), "operator_action_messages", ["message_id"]
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_operator_action_messages_message_id"), table_name="operator_action_messages"
    )
    op.drop_table("operator_action_messages")
    op.drop_index(op.f("ix_operator_actions_at"), table_name="operator_actions")
    op.drop_table("operator_actions")
