"""Worker nodes and their leader, as PostgreSQL sees them.

Every worker process is a node. It holds two things on one dedicated connection (its
control connection): a row in `worker_nodes` with its heartbeat, and a session advisory
lock of its own. At most one node also holds the leader's lock and runs the maintenance.
PostgreSQL releases a session's locks the moment the session ends: a node that is killed,
or whose host dies (TCP keepalives end its session within seconds), loses both at once.
So liveness and leadership are read from `pg_locks`, never guessed from clocks: a node is
alive exactly while its lock is granted, and a new leader can take over as soon as the old
one's session is gone, never while it is still there. Advisory locks live within one
database, so deployments (and test runs) on one server do not see each other's.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from db.session import Database

# Advisory lock keys (two int4 form: pg_locks shows them as classid, objid, objsubid = 2).
LEADER_LOCK_CLASS = 0x77617069  # "wapi"
NODE_LOCK_CLASS = 0x7761706E  # "wapn"; objid is hashtext(node id)

# One granted advisory lock of this database. A collision of two live nodes' hashes
# (one in four billion) would only make a dead node look alive until its leases expire.
_LOCK_OF = """
    l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_NODE_LOCK = f"{_LOCK_OF} AND l.classid = {NODE_LOCK_CLASS} AND l.objid = hashtext(n.id)::oid"
_LEADER_LOCK = f"{_LOCK_OF} AND l.classid = {LEADER_LOCK_CLASS} AND l.objid = 0"

_TAKE_NODE_LOCK_SQL = f"SELECT pg_try_advisory_lock({NODE_LOCK_CLASS}, hashtext(%(id)s))"

_REGISTER_SQL = """
INSERT INTO worker_nodes (id, host, pid, queues, started_at, heartbeat_at)
VALUES (%(id)s, %(host)s, %(pid)s, %(queues)s, now(), now())
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
"""

_HEARTBEAT_SQL = "UPDATE worker_nodes SET heartbeat_at = now() WHERE id = %(id)s"

# Renewed only while this node still owns the lease: a lease taken over is not taken back.
_RENEW_SQL = """
UPDATE messages SET lease_expires_at = now() + make_interval(secs => %(seconds)s)
WHERE id = ANY(%(ids)s) AND lease_owner = %(id)s AND status = 'sending'
"""

_TRY_LEAD_SQL = f"SELECT pg_try_advisory_lock({LEADER_LOCK_CLASS}, 0)"

_STILL_LEADING_SQL = f"""
SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE {_LEADER_LOCK} AND l.pid = pg_backend_pid())
"""

_MARK_LEADER_SQL = """
UPDATE worker_nodes SET leader_since = CASE WHEN id = %(id)s THEN now() END
WHERE id = %(id)s OR leader_since IS NOT NULL
"""

_RECORD_RUN_SQL = """
INSERT INTO maintenance_runs (node_id, task, started_at, finished_at, detail)
VALUES (%(id)s, %(task)s, %(started_at)s, now(), %(detail)s)
"""

_DEREGISTER_SQL = "DELETE FROM worker_nodes WHERE id = %(id)s"

# The leases of nodes that are gone: given up at once, so the sweep can hand their
# messages to a live worker (whose claim waits for a status webhook before resending).
EXPIRE_DEAD_LEASES_SQL = f"""
WITH dead AS (
    SELECT n.id FROM worker_nodes n
    WHERE NOT EXISTS (SELECT 1 FROM pg_locks l WHERE {_NODE_LOCK})
)
UPDATE messages m SET lease_expires_at = now(), updated_at = now()
FROM dead
WHERE m.lease_owner = dead.id AND m.status = 'sending' AND m.deleted_at IS NULL
  AND m.lease_expires_at > now()
RETURNING m.id, m.company_id,
          (SELECT c.send_rate_mps FROM channels c WHERE c.company_id = m.company_id) AS rate
"""

# Rows of nodes gone for a while: kept a little for `wapipe stats`, then forgotten.
FORGET_DEAD_NODES_SQL = f"""
DELETE FROM worker_nodes n
WHERE n.heartbeat_at < now() - make_interval(secs => %(after)s)
  AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE {_NODE_LOCK})
"""

_LIVE_NODES_SQL = f"""
SELECT n.id, n.host, n.pid, n.queues, n.started_at, n.heartbeat_at, n.leader_since,
       EXISTS (SELECT 1 FROM pg_locks k WHERE {_LEADER_LOCK.replace("l.", "k.")}
               AND k.pid = l.pid) AS leader
FROM worker_nodes n JOIN pg_locks l ON {_NODE_LOCK}
ORDER BY n.started_at, n.id
"""


@dataclass(frozen=True, slots=True)
class NodeInfo:
    id: str
    host: str
    pid: int
    queues: str
    started_at: datetime
    heartbeat_at: datetime
    leader_since: datetime | None
    leader: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "queues": self.queues.split(","),
            "started_at": self.started_at.isoformat(),
            "heartbeat_at": self.heartbeat_at.isoformat(),
            "leader": self.leader,
            "leader_since": self.leader_since.isoformat() if self.leader and self.leader_since
            else None,
        }  # fmt: skip


Conn = psycopg.Connection[Any]


def register(conn: Conn, node_id: str, host: str, pid: int, queues: str) -> None:
    """Take the node's own lock, then show its row: a row without a granted lock is dead."""
    if not conn.execute(_TAKE_NODE_LOCK_SQL, {"id": node_id}).fetchone()[0]:  # type: ignore[index]
        raise RuntimeError(f"node id {node_id} is already in use")
    conn.execute(_REGISTER_SQL, {"id": node_id, "host": host, "pid": pid, "queues": queues})


def heartbeat(conn: Conn, node_id: str, held: list[uuid.UUID], lease_seconds: int) -> None:
    conn.execute(_HEARTBEAT_SQL, {"id": node_id})
    if held:
        conn.execute(_RENEW_SQL, {"id": node_id, "ids": held, "seconds": lease_seconds})


def try_lead(conn: Conn, node_id: str) -> bool:
    won = bool(conn.execute(_TRY_LEAD_SQL).fetchone()[0])  # type: ignore[index]
    if won:
        conn.execute(_MARK_LEADER_SQL, {"id": node_id})
    return won


def still_leading(conn: Conn) -> bool:
    return bool(conn.execute(_STILL_LEADING_SQL).fetchone()[0])  # type: ignore[index]


def record_run(
    conn: Conn, node_id: str, task: str, started_at: datetime, detail: str | None
) -> None:
    params = {"id": node_id, "task": task, "started_at": started_at, "detail": detail}
    conn.execute(_RECORD_RUN_SQL, params)


def deregister(conn: Conn, node_id: str) -> None:
    conn.execute(_DEREGISTER_SQL, {"id": node_id})


def live_nodes(db: Database) -> list[NodeInfo]:
    """The nodes whose session is alive, the leader flagged; for `wapipe stats`."""
    return [NodeInfo(*row) for row in db.run(_LIVE_NODES_SQL)]
