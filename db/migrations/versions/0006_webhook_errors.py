"""webhook deliveries that cannot be applied keep their error

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


def downgrade() -> None:
    op.drop_column("webhook_inbox", "error")
