"""webhook deliveries that cannot be applied keep their error; an index of messages owed a
send per conversation; room on message pages for HOT updates

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_inbox", sa.Column("error", sa.Text(), nullable=True))
    op.create_index(
        "ix_messages_owed",
        "messages",
        ["conversation_id", "seq"],
        postgresql_where=sa.text("status = 'sending' AND deleted_at IS NULL"),
    )
    op.execute("ALTER TABLE messages SET (fillfactor = 80)")


def downgrade() -> None:
    op.execute("ALTER TABLE messages RESET (fillfactor)")
    op.drop_index("ix_messages_owed", table_name="messages")
    op.drop_column("webhook_inbox", "error")
