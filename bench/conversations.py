"""Conversation list benchmark: `python -m bench.conversations [--reseed] [--runs N]`.

Seeds (once) a database of its own with one company of 100,000 conversations and 1,000,000
messages, plus a small second company, all with set-based SQL. Then times the real services
(statement, transaction and view building included) and prints p50/p95 per query and the
EXPLAIN (ANALYZE, BUFFERS) plan of each statement.
"""

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, text
from sqlalchemy.engine import make_url

from db import migrate
from db.session import Database, make_engine
from pipeline.config import get_settings
from pipeline.services.conversation_queries import (
    ListConversationsQuery,
    ListMessagesQuery,
    conversation_page_statement,
    list_conversations,
    list_messages,
    matching_contacts,
    message_page_statement,
)
from pipeline.services.tenants import Principal

CONVERSATIONS = 100_000
MESSAGES_PER_CONVERSATION = 10
USERS = 5
BENCH_COMPANY = uuid.UUID("00000000-0000-4000-8000-00000000b001")
OTHER_COMPANY = uuid.UUID("00000000-0000-4000-8000-00000000b002")

_SEED = [
    # Companies and users: user i of the bench company is ...c00i.
    """
    INSERT INTO companies (id, name) VALUES (:bench, 'bench'), (:other, 'bench-other')
    """,
    """
    INSERT INTO users (id, company_id, name, role)
    SELECT ('00000000-0000-4000-8000-000000000c0' || i)::uuid, :bench, 'user ' || i,
           CASE WHEN i = 0 THEN 'admin' ELSE 'agent' END
    FROM generate_series(0, :users - 1) i
    """,
    # Contacts: varied names, phones +1650xxxxxxx, 2% groups; the other company gets 1%.
    """
    INSERT INTO contacts (id, company_id, phone, name, is_group, created_at)
    SELECT gen_random_uuid(),
           CASE WHEN i <= :n THEN CAST(:bench AS uuid) ELSE CAST(:other AS uuid) END,
           '+1650' || lpad(i::text, 7, '0'),
           (ARRAY['Ana','Bruno','Carla','Diego','Elena','Farid','Grace','Hugo','Irene','Jonas',
                  'Kemal','Lucia','Mateo','Nadia','Omar','Paula','Quentin','Rosa','Sven',
                  'Tomas'])[1 + i % 20] || ' ' ||
           (ARRAY['Silva','Meyer','Rossi','Garcia','Novak','Haddad','Okafor','Tanaka','Berg',
                  'Costa','Dubois','Kowalski','Larsen','Moreau','Nguyen','Petrov','Quinn',
                  'Reyes','Schmidt','Yilmaz'])[1 + (i / 20) % 20] || ' ' || i,
           i % 50 = 0,
           now() - interval '200 days'
    FROM generate_series(1, :n + :n / 100) i
    """,
    # Conversations: activity over 90 days, 10% unread, 2% favourite, 5% archived,
    # 30% assigned round-robin.
    """
    INSERT INTO conversations (id, company_id, contact_id, last_message_preview,
                               last_message_at, unread_count, is_favorite, is_archived,
                               assigned_user_id, created_at, activity_floor_at, updated_at)
    SELECT gen_random_uuid(), c.company_id, c.id, 'preview',
           now() - (random() * interval '90 days'),
           CASE WHEN random() < 0.10 THEN 1 + (random() * 5)::int ELSE 0 END,
           random() < 0.02, random() < 0.05,
           CASE WHEN c.company_id = :bench AND random() < 0.30
                THEN ('00000000-0000-4000-8000-000000000c0' || (random() * (:users - 1))::int)::uuid
           END,
           c.created_at, c.created_at, now()
    FROM contacts c WHERE c.company_id IN (:bench, :other)
    """,
    # Messages: ten per conversation, in time order, most delivered or read.
    """
    INSERT INTO messages (id, company_id, conversation_id, contact_id, direction, status,
                          to_phone, text, created_at, queued_at, updated_at, sent_at)
    SELECT gen_random_uuid(), cv.company_id, cv.id, cv.contact_id,
           CASE WHEN k % 3 = 0 THEN 'inbound' ELSE 'outbound' END,
           (ARRAY['read','delivered','sent','read','failed'])[1 + (k % 5)],
           '+1', 'message ' || k,
           cv.last_message_at - (:per - k) * interval '7 minutes',
           now(), now(), cv.last_message_at - (:per - k) * interval '7 minutes'
    FROM conversations cv, generate_series(1, :per) k
    WHERE cv.company_id IN (:bench, :other)
    ORDER BY cv.last_message_at, k
    """,
    """
    UPDATE conversations cv SET last_message_id = m.id, last_message_preview = m.text
    FROM (SELECT DISTINCT ON (conversation_id) conversation_id, id, text FROM messages
          ORDER BY conversation_id, seq DESC) m
    WHERE m.conversation_id = cv.id
    """,
    "VACUUM (ANALYZE) conversations",
    "VACUUM (ANALYZE) contacts",
    "VACUUM (ANALYZE) messages",
]


def bench_url() -> str:
    url = os.environ.get("WAPIPE_BENCH_DATABASE_URL")
    if url:
        return url
    base = make_url(get_settings().database_url)
    return base.set(database="wapipe_bench").render_as_string(hide_password=False)


def seed(db: Database, reseed: bool) -> None:
    with db.transaction() as session:
        seeded = session.scalar(
            text("SELECT count(*) FROM companies WHERE id = :c"), {"c": BENCH_COMPANY}
        )
    if seeded and not reseed:
        print("seed: already there (pass --reseed to start over)")
        return
    params = {
        "bench": BENCH_COMPANY,
        "other": OTHER_COMPANY,
        "users": USERS,
        "n": CONVERSATIONS,
        "per": MESSAGES_PER_CONVERSATION,
    }
    started = time.monotonic()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if seeded:
            for table in ("messages", "conversations", "contacts", "users"):
                conn.execute(
                    text(f"DELETE FROM {table} WHERE company_id IN (:bench, :other)"), params
                )
            conn.execute(text("DELETE FROM companies WHERE id IN (:bench, :other)"), params)
        for statement in _SEED:
            step = time.monotonic()
            conn.execute(text(statement), params)
            print(f"seed: {' '.join(statement.split())[:60]}... {time.monotonic() - step:.1f}s")
    print(f"seed: done in {time.monotonic() - started:.0f}s")


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(max(3, runs // 10)):
        call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49], cuts[94]


def explain(db: Database, statement: Select[Any]) -> str:
    compiled = statement.compile(
        dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
    )
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + str(compiled), compiled.params
        ).all()
    return "\n".join(row[0] for row in rows)


def deep_cursor(db: Database, principal: Principal, rows: int) -> str:
    """Walk the list with the public API to a cursor `rows` deep."""
    cursor: str | None = None
    for _ in range(rows // 100):
        page = list_conversations(db, principal, ListConversationsQuery(limit=100, cursor=cursor))
        cursor = page["next_cursor"]
        assert cursor is not None
    assert cursor is not None
    return cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    url = bench_url()
    migrate.create_database(url)
    migrate.upgrade(url)
    db = Database(make_engine(url, pool_size=2))
    seed(db, args.reseed)

    admin = Principal(BENCH_COMPANY, uuid.UUID("00000000-0000-4000-8000-000000000c00"), "admin")
    agent = Principal(BENCH_COMPANY, uuid.UUID("00000000-0000-4000-8000-000000000c01"), "agent")
    with db.transaction() as session:
        busy = session.scalar(
            text("SELECT id FROM conversations WHERE company_id = :c ORDER BY activity_at DESC"),
            {"c": BENCH_COMPANY},
        )
    assert busy is not None
    older = list_messages(db, admin, busy, ListMessagesQuery(limit=5))["next_cursor"]

    lists: list[tuple[str, Principal, ListConversationsQuery]] = [
        ("first page", admin, ListConversationsQuery()),
        (
            "deep page (row 50,000)",
            admin,
            ListConversationsQuery(cursor=deep_cursor(db, admin, 50_000)),
        ),
        ("search name 'nadia'", admin, ListConversationsQuery(q="nadia")),
        ("search name 'silva 4'", admin, ListConversationsQuery(q="silva 4")),
        ("search phone '0042'", admin, ListConversationsQuery(q="0042")),
        ("search phone '650 004 2123'", admin, ListConversationsQuery(q="650 004 2123")),
        ("search, no match 'zqx'", admin, ListConversationsQuery(q="zqx")),
        ("filter=unread", admin, ListConversationsQuery(filter="unread")),
        ("filter=favorites", admin, ListConversationsQuery(filter="favorites")),
        ("filter=groups", admin, ListConversationsQuery(filter="groups")),
        ("assigned=me", agent, ListConversationsQuery(assigned="me")),
        ("archived=true", admin, ListConversationsQuery(archived=True)),
    ]
    print(
        f"\n{CONVERSATIONS:,} conversations, {CONVERSATIONS * MESSAGES_PER_CONVERSATION:,} "
        f"messages in the bench company; {args.runs} runs each, ms through the service\n"
    )
    print(f"{'query':<31}{'p50 ms':>9}{'p95 ms':>9}{'rows':>6}")
    plans: list[tuple[str, str]] = []
    for name, who, query in lists:
        p50, p95 = timed(lambda who=who, query=query: list_conversations(db, who, query), args.runs)
        rows = len(list_conversations(db, who, query)["items"])
        print(f"{name:<31}{p50:>9.2f}{p95:>9.2f}{rows:>6}")
        with db.transaction() as session:
            contacts = matching_contacts(session, who, query.q)
        plans.append((name, explain(db, conversation_page_statement(who, query, contacts))))
    for name, query in (
        ("messages, first page", ListMessagesQuery()),
        ("messages, older page", ListMessagesQuery(cursor=older)),
    ):
        p50, p95 = timed(lambda query=query: list_messages(db, admin, busy, query), args.runs)
        rows = len(list_messages(db, admin, busy, query)["items"])
        print(f"{name:<31}{p50:>9.2f}{p95:>9.2f}{rows:>6}")
        plans.append((name, explain(db, message_page_statement(admin, busy, query))))

    seq_scans = []
    for name, plan in plans:
        print(f"\n--- EXPLAIN {name}\n{plan}")
        if "Seq Scan on messages" in plan:
            seq_scans.append(name)
    print("\nsequential scans of messages:", ", ".join(seq_scans) or "none")
    db.dispose()


if __name__ == "__main__":
    main()
