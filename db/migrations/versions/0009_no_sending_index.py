"""drop ix_messages_sending: the planner took it for the hot statements' `status = 'sending'`

Revision ID: 0009
Revises: 0008

Its predicate (`status = 'sending'`) is implied by every statement that asks about messages
owed a send, and with statistics taken while few were owed (after a quiet spell, before a
burst) the planner costed it at about one row and used it: the record of a send looked for
its message's id, and the claim for the conversation's head of line, through every owed
message. Under a 3,000-message backlog that was 1,282 and 505 buffer reads per statement
instead of about 25. ix_messages_owed (conversation_id, seq) serves what it served (the
sweep and the oldest owed message read the owed messages, which the sweep reads anyway).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_messages_sending", table_name="messages")


def downgrade() -> None:
    op.create_index(
        "ix_messages_sending",
        "messages",
        ["enqueued_at"],
        postgresql_where=sa.text("status = 'sending'"),
    )
