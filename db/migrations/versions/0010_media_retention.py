"""media retention: an index on media.created_at for the leader's pruning

Revision ID: 0010
Revises: 0009

The media table records which media ids a company uploaded or received (only those it may
download). Meta keeps a media file 30 days, so the leader prunes older rows in batches
(pipeline/services/retention.py), and finds them through this index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_media_created_at", "media", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_media_created_at", table_name="media")
