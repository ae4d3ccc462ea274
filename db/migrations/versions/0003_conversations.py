"""conversations API: list order, search indexes, audit columns, idempotency keys

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22 15:00:00

"""
from typing import Sequence, Union

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")

    # The list order. `activity_floor_at` is where a conversation sits without messages
    # (created, reopened, or its activity before a clear, so a clear does not move it);
    # `activity_at` is generated so every writer of last_message_at keeps it right for free.
    op.execute("""
        ALTER TABLE conversations
            ADD COLUMN created_by uuid,
            ADD COLUMN updated_by uuid,
            ADD COLUMN activity_floor_at timestamptz NOT NULL DEFAULT now()
    """)
    op.execute("UPDATE conversations SET activity_floor_at = created_at")
    op.execute("""
        ALTER TABLE conversations
            ADD COLUMN activity_at timestamptz NOT NULL
                GENERATED ALWAYS AS (GREATEST(activity_floor_at, last_message_at)) STORED,
            ADD CONSTRAINT fk_conversations_created_by_users
                FOREIGN KEY (created_by) REFERENCES users (id),
            ADD CONSTRAINT fk_conversations_updated_by_users
                FOREIGN KEY (updated_by) REFERENCES users (id)
    """)

    # Keyset pagination on (activity_at, id) within a company's live conversations, one
    # index per common filter so a page is an index range scan of `limit` rows.
    op.execute("""
        CREATE INDEX ix_conversations_list ON conversations
            (company_id, is_archived, activity_at, id) WHERE deleted_at IS NULL
    """)
    op.execute("""
        CREATE INDEX ix_conversations_unread ON conversations
            (company_id, is_archived, activity_at, id)
            WHERE deleted_at IS NULL AND unread_count > 0
    """)
    op.execute("""
        CREATE INDEX ix_conversations_favorites ON conversations
            (company_id, is_archived, activity_at, id)
            WHERE deleted_at IS NULL AND is_favorite
    """)
    op.execute("""
        CREATE INDEX ix_conversations_assignee ON conversations
            (company_id, assigned_user_id, is_archived, activity_at, id)
            WHERE deleted_at IS NULL
    """)
    # Search: case-insensitive substring of a contact's name or phone.
    op.execute("CREATE INDEX ix_contacts_name_trgm ON contacts USING gin (name gin_trgm_ops)")
    op.execute("CREATE INDEX ix_contacts_phone_trgm ON contacts USING gin (phone gin_trgm_ops)")
    op.execute("CREATE INDEX ix_contacts_groups ON contacts (company_id, id) WHERE is_group")
    # A conversation's visible messages, newest first, without walking cleared ones.
    op.execute("""
        CREATE INDEX ix_messages_conversation_visible ON messages (conversation_id, seq)
            WHERE deleted_at IS NULL
    """)

    op.execute("""
        CREATE TABLE idempotency_keys (
            company_id uuid NOT NULL REFERENCES companies (id),
            key varchar(255) NOT NULL,
            fingerprint bytea NOT NULL,
            response_status integer,
            response_body text,
            created_by uuid REFERENCES users (id),
            created_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT pk_idempotency_keys PRIMARY KEY (company_id, key)
        )
    """)
    op.execute("CREATE INDEX ix_idempotency_keys_created_at ON idempotency_keys (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
    op.execute("DROP INDEX ix_messages_conversation_visible")
    op.execute("DROP INDEX ix_contacts_groups")
    op.execute("DROP INDEX ix_contacts_phone_trgm")
    op.execute("DROP INDEX ix_contacts_name_trgm")
    op.execute("DROP INDEX ix_conversations_assignee")
    op.execute("DROP INDEX ix_conversations_favorites")
    op.execute("DROP INDEX ix_conversations_unread")
    op.execute("DROP INDEX ix_conversations_list")
    op.execute("""
        ALTER TABLE conversations
            DROP COLUMN activity_at,
            DROP COLUMN activity_floor_at,
            DROP COLUMN updated_by,
            DROP COLUMN created_by
    """)
