"""The worker node: each worker process's heartbeat, its leases, and the leader's duties.

One thread per worker process, on one dedicated PostgreSQL connection (see
pipeline/services/nodes.py for why liveness and leadership are PostgreSQL's session locks):
- every HEARTBEAT_S it stamps its row and renews the leases of the messages it is sending;
- while it does not lead, every ELECT_S it tries to take the leader's lock;
- while it leads, it runs the maintenance tasks that are due (workers/maintenance.py),
  each only after checking that it still holds the lock, and records each run.
A leader that is killed loses its lock with its session, and the next try of another node
takes over: within ELECT_S after PostgreSQL sees the session end (at once for a killed
process; within the TCP keepalive time, about 11 s, for a host that vanished).
"""

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import dramatiq
import psycopg
from sqlalchemy.engine import make_url

from pipeline.services import nodes
from pipeline.services.leases import LeaseBook
from workers.maintenance import Task

log = logging.getLogger("wapipe.node")

TICK_S = 1.0
HEARTBEAT_S = 2.0
ELECT_S = 2.0
ERROR_BACKOFF_MAX_S = 10.0
# Server-side TCP keepalives on the control connection: PostgreSQL ends the session of a
# host that vanished after about idle + interval x count seconds, freeing its locks.
_KEEPALIVES = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 2, "tcp_keepalives_count": 3}


def new_node_id() -> str:
    """Unique across hosts and restarts (pids repeat, in containers all the time); short
    enough for PostgreSQL's application_name (63 bytes), which shows it in pg_stat_activity."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(2)}"


def control_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as a libpq one."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class NodeKeeper:
    def __init__(
        self,
        node_id: str,
        database_url: str,
        queues: str,
        leases: LeaseBook,
        lease_seconds: int,
        tasks: Callable[[], list[Task]],
    ) -> None:
        self.node_id = node_id
        self._dsn = control_dsn(database_url)
        self._queues = queues
        self._leases = leases
        self._lease_seconds = lease_seconds
        self._make_tasks = tasks
        self._tasks: list[Task] = []
        self._conn: psycopg.Connection[Any] | None = None
        self._leading = False
        self._next_heartbeat = 0.0
        self._next_election = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="worker-node", daemon=True)

    @property
    def leading(self) -> bool:
        return self._leading

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the task in hand, then leave: the row goes, the session's locks with it."""
        self._stopping.set()
        self._thread.join(timeout)
        if self._conn is not None and not self._conn.closed:
            # If this fails the session ends below anyway, and the leader forgets the row.
            with contextlib.suppress(psycopg.Error):
                nodes.deregister(self._conn, self.node_id)
            self._conn.close()

    def _loop(self) -> None:
        backoff = TICK_S
        while not self._stopping.is_set():
            try:
                self.tick()
                backoff = TICK_S
            except Exception as error:  # the node must outlive any one failure
                log.warning("worker node %s: %s; again in %.0fs", self.node_id, error, backoff)
                self._drop_connection()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX_S)
                continue
            self._stopping.wait(TICK_S)

    def tick(self) -> None:
        conn = self._connection()
        now = time.monotonic()
        if now >= self._next_heartbeat:
            nodes.heartbeat(conn, self.node_id, self._leases.held(), self._lease_seconds)
            self._next_heartbeat = now + HEARTBEAT_S
        if not self._leading and now >= self._next_election:
            self._next_election = now + ELECT_S
            if nodes.try_lead(conn, self.node_id):
                self._leading = True
                self._tasks = self._make_tasks()
                log.info("worker node %s leads: maintenance runs here", self.node_id)
        if self._leading:
            self._run_due_tasks(conn)

    def _run_due_tasks(self, conn: psycopg.Connection[Any]) -> None:
        for task in self._tasks:
            now = time.monotonic()
            if not task.due(now) or self._stopping.is_set():
                continue
            if not nodes.still_leading(conn):
                self._leading = False
                log.warning("worker node %s lost the lead", self.node_id)
                return
            started = datetime.now(UTC)
            try:
                detail = task.run()
            except Exception as error:
                log.exception("maintenance task %s failed", task.name)
                detail = {"error": type(error).__name__}
            task.done(time.monotonic(), again=bool(detail.pop("again", False)))
            nodes.record_run(conn, self.node_id, task.name, started, json.dumps(detail))

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._leading = False
            conn = psycopg.connect(
                self._dsn,
                autocommit=True,
                application_name=self.node_id,
                connect_timeout=5,
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=3,
            )
            for name, value in _KEEPALIVES.items():
                conn.execute(f"SET {name} = {int(value)}")
            host, pid = self.node_id.rsplit(":", 2)[:2]
            nodes.register(conn, self.node_id, host, int(pid), self._queues)
            self._conn = conn
            self._next_heartbeat = 0.0
        return self._conn

    def _drop_connection(self) -> None:
        self._leading = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None


class NodeMiddleware(dramatiq.Middleware):
    """Runs a NodeKeeper in each Dramatiq worker process, for the worker's lifetime."""

    def __init__(self, make_keeper: Callable[[str], NodeKeeper]) -> None:
        self._make_keeper = make_keeper
        self._keeper: NodeKeeper | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        whitelist = worker.consumer_whitelist
        queues = ",".join(sorted(whitelist)) if whitelist else "all"
        self._keeper = self._make_keeper(queues)
        self._keeper.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None
