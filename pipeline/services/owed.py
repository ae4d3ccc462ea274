"""SQL shared by whoever asks which message of a conversation is next owed a send."""


# The first message of the conversation still owed a send. A scalar subquery, not NOT
# EXISTS: PostgreSQL turns NOT EXISTS into an anti-join, and with the statistics of a young
# table (a backlog written since the last ANALYZE) it scanned every message owed a send for
# each row: the sweep of a 3,000-message backlog took seconds, holding its row locks. This
# reads one index entry (ix_messages_owed) per row.
def head_of_line(row: str) -> str:
    return f"""(SELECT e.id FROM messages e
      WHERE e.conversation_id = {row}.conversation_id AND e.status = 'sending'
        AND e.deleted_at IS NULL
      ORDER BY e.seq LIMIT 1)"""
