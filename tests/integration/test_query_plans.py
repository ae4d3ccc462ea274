"""The per-message statements read a few pages whatever the backlog and the statistics.

A backlog of messages owed a send arrives after statistics were taken while none was owed
(a quiet spell, then a burst): the planner then believes owed messages are rare. An index
whose predicate every statement about owed messages implies looked like one row to it, and
the record of a send and the claim read every owed message through it (issue 8). Here a
database of its own is analysed with 500 messages read, then takes a burst of 5,000 owed
messages, and the statements run as the workers run them: prepared, on the generic plan.
With that index back, the claim read 188 pages here and the record more than 100; without
it, about 35.
"""

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from db import migrate
from pipeline.services.delivery import _CLAIM_SQL, _RECORD_SENT_SQL

BACKLOG = 5_000
# A statement that finds its rows by key reads tens of pages; one that walks the backlog,
# hundreds.
MAX_BUFFERS = 100


@pytest.fixture(scope="module")
def quiet_then_burst(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to a database analysed while its messages were all read, then given a
    backlog of owed messages, each the first of its own conversation."""
    url = make_url(database_url)
    url = url.set(database=f"{url.database}_plans")
    migrate.drop_database(str(url))
    migrate.create_database(str(url))
    migrate.upgrade(str(url))
    with psycopg.connect(f"dbname={url.database}", autocommit=True) as conn:
        company = _seed(conn, 500, "read")
        conn.execute("ANALYZE")
        _seed(conn, BACKLOG, "sending", company)
        yield conn
    migrate.drop_database(str(url))


def _seed(
    conn: psycopg.Connection[Any], n: int, status: str, company: uuid.UUID | None = None
) -> uuid.UUID:
    if company is None:
        company = uuid.uuid4()
        conn.execute("INSERT INTO companies (id, name) VALUES (%s, 'Plans')", (company,))
        conn.execute(
            "INSERT INTO channels (id, company_id, phone_number_id, access_token) "
            "VALUES (gen_random_uuid(), %s, %s, 'token')",
            (company, str(uuid.uuid4().int % 10**15)),
        )
    conn.execute(
        """
        WITH contact AS (
            INSERT INTO contacts (id, company_id, phone)
            SELECT gen_random_uuid(), %(company)s, '+1650' || (2000000 + g + %(offset)s)
            FROM generate_series(1, %(n)s) g
            RETURNING id, phone
        ), conversation AS (
            INSERT INTO conversations (id, company_id, contact_id)
            SELECT gen_random_uuid(), %(company)s, id FROM contact
            RETURNING id, contact_id
        )
        INSERT INTO messages (id, company_id, conversation_id, contact_id, direction, status,
                              to_phone, text)
        SELECT gen_random_uuid(), %(company)s, cv.id, ct.id, 'outbound', %(status)s,
               ct.phone, 'hello'
        FROM conversation cv JOIN contact ct ON ct.id = cv.contact_id
        """,
        {
            "company": company,
            "n": n,
            "status": status,
            "offset": 100_000 if status == "read" else 0,
        },
    )
    return company


def _buffers(
    conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], before: str = ""
) -> int:
    """Shared buffers the statement's generic plan reads, run (after ``before``) in a
    transaction rolled back."""
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    numbered = re.sub(r"%\((\w+)\)s", placeholder, sql)
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        if before:
            conn.execute(before, params)
        conn.execute(f"PREPARE hot AS {numbered}")
        try:
            args = ", ".join(_literal(conn, params[name]) for name in names)
            [[plan]] = conn.execute(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE hot({args})"
            ).fetchall()
        finally:
            conn.execute("DEALLOCATE hot")
    doc = plan if isinstance(plan, list) else json.loads(plan)
    return int(doc[0]["Plan"]["Shared Hit Blocks"]) + int(doc[0]["Plan"]["Shared Read Blocks"])


def _literal(conn: psycopg.Connection[Any], value: Any) -> str:
    """``value`` as an SQL literal (EXECUTE takes no bind parameters of its own)."""
    row = conn.execute("SELECT quote_nullable(%s::text)", (value,)).fetchone()
    assert row is not None
    return str(row[0])


def _newest_owed(conn: psycopg.Connection[Any]) -> uuid.UUID:
    row = conn.execute(
        "SELECT id FROM messages WHERE status = 'sending' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def test_the_claim_reads_a_few_pages_under_a_backlog_the_statistics_missed(
    quiet_then_burst: psycopg.Connection[Any],
) -> None:
    params = {"id": _newest_owed(quiet_then_burst), "owner": "w1", "lease_seconds": 60,
              "max_age": 86_400}  # fmt: skip
    assert _buffers(quiet_then_burst, _CLAIM_SQL, params) < MAX_BUFFERS


def test_the_record_of_a_send_reads_a_few_pages_under_a_backlog_the_statistics_missed(
    quiet_then_burst: psycopg.Connection[Any],
) -> None:
    params = {
        "id": _newest_owed(quiet_then_burst), "owner": "w1", "seen_sent_at": None,
        "status": "sent", "sent_at": "2026-12-02T10:00:00Z", "wamid": "wamid.plans",
        "applied": True, "at": "2026-12-02T10:00:00Z", "detail": "{}", "attempt": 1,
        "started_at": "2026-12-02T10:00:00Z",
    }  # fmt: skip
    lease = "UPDATE messages SET lease_owner = %(owner)s WHERE id = %(id)s"  # the worker's claim
    assert _buffers(quiet_then_burst, _RECORD_SENT_SQL, params, before=lease) < MAX_BUFFERS
