"""typed content, templates, media and the 24-hour window (issue 9); the events outbox,
webhook endpoints and their deliveries (issue 10)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401 - used by the sections below
from alembic import op  # noqa: F401

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- content, templates, media, window (issue 9)
    # --- events (issue 10)
    pass


def downgrade() -> None:
    # --- events (issue 10)
    # --- content, templates, media, window (issue 9)
    pass
