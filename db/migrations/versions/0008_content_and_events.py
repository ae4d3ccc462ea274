"""typed content, templates, media and the 24-hour window (issue 9); the events outbox,
webhook endpoints and their deliveries (issue 10)

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TXID = "(pg_current_xact_id()::text)::bigint"


def upgrade() -> None:
    # --- content, templates, media, window (issue 9)
    op.add_column(
        "companies",
        sa.Column("window_policy", sa.String(8), server_default=sa.text("'off'"), nullable=False),
    )
    op.create_check_constraint("window_policy", "companies", "window_policy IN ('off', 'enforce')")
    op.add_column(
        "conversations", sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_table(
        "templates",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("company_id", sa.UUID(), sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("provider_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("components", JSONB(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "company_id", "name", "language", name="uq_templates_company_name_language"
        ),
    )
    op.create_table(
        "media",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("company_id", sa.UUID(), sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("mime_type", sa.String(128), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", "company_id", name="pk_media"),
    )
    # --- events (issue 10)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.UUID(), primary_key=True),
        sa.Column("company_id", sa.UUID(), sa.ForeignKey("companies.id"), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("event_types", sa.ARRAY(sa.String(32)), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_reason", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )
    op.create_index("ix_webhook_endpoints_company_id", "webhook_endpoints", ["company_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("company_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("message_id", sa.UUID(), nullable=True),
        sa.Column("data", JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        # The writing transaction's id (xid8 as bigint): readers order by it and read
        # only below every running transaction, so no event is skipped (events.py).
        sa.Column("txid", sa.BigInteger(), server_default=sa.text(TXID), nullable=False),
    )
    op.create_index("ix_events_txid", "events", ["txid", "id"])
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("txid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("event_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute("INSERT INTO event_cursors (name) VALUES ('fanout')")
    op.create_table(
        "event_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "endpoint_id",
            sa.UUID(),
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
    )
    op.create_index(
        "ix_event_deliveries_due",
        "event_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_event_deliveries_endpoint_id", "event_deliveries", ["endpoint_id", "id"])
    op.create_index("ix_event_deliveries_event_id", "event_deliveries", ["event_id"])


def downgrade() -> None:
    # --- events (issue 10)
    op.drop_table("event_deliveries")
    op.drop_table("event_cursors")
    op.drop_table("events")
    op.drop_table("webhook_endpoints")
    # --- content, templates, media, window (issue 9)
    op.drop_table("media")
    op.drop_table("templates")
    op.drop_column("conversations", "last_inbound_at")
    op.drop_column("companies", "window_policy")
