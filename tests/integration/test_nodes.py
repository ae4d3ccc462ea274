"""Worker nodes: one leader at a time, read from PostgreSQL's locks; leases renewed while a
send runs and given up the moment their node's session ends; lost jobs found without waiting."""

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from db.models import Message
from pipeline.bootstrap import Container
from pipeline.services import nodes
from pipeline.services.leases import LeaseBook
from pipeline.services.sweeper import sweep
from tests.conftest import Tenant
from tests.support import send_message, wait_for
from workers.maintenance import Task, maintenance_tasks
from workers.node import NodeKeeper
from workers.queues import RedisQueues


class Keepers:
    """Node keepers driven tick by tick from the test, each with its own session."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.made: list[NodeKeeper] = []
        self.runs: list[tuple[str, str]] = []

    def new(self, name: str, leases: LeaseBook | None = None) -> NodeKeeper:
        node_id = f"test-host:{len(self.made) + 1}:{name}-{uuid.uuid4().hex[:4]}"

        def tasks() -> list[Task]:
            return [Task("probe", 0.0, lambda: self.runs.append((node_id, "probe")) or {})]

        keeper = NodeKeeper(node_id, self.database_url, "all", leases or LeaseBook(), 30, tasks)
        self.made.append(keeper)
        return keeper


@pytest.fixture
def keepers(database_url: str) -> Iterator[Keepers]:
    made = Keepers(database_url)
    yield made
    for keeper in made.made:
        die(keeper)


def die(keeper: NodeKeeper) -> None:
    """What SIGKILL does to a node: its session ends, nothing is cleaned up. The server
    ends the session a moment after the socket closes: wait for its locks to go."""
    conn = keeper._conn
    if conn is None or conn.closed:
        return
    conn.close()
    with psycopg.connect(keeper._dsn, autocommit=True) as probe:
        wait_for(
            lambda: (
                not probe.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (keeper.node_id,)
                ).fetchone()
            ),
            timeout=5,
            what="the dead node's session to end",
        )


def _live(container: Container) -> list[nodes.NodeInfo]:
    return nodes.live_nodes(container.db)


def test_exactly_one_node_leads_and_another_takes_over_when_it_dies(
    keepers: Keepers, container: Container
) -> None:
    first, second = keepers.new("a"), keepers.new("b")
    first.tick()
    second.tick()
    assert first.leading
    assert not second.leading
    live = {node.id: node for node in _live(container) if node.id.startswith("test-host")}
    assert set(live) == {first.node_id, second.node_id}
    assert [n for n in live.values() if n.leader] == [live[first.node_id]]
    assert (first.node_id, "probe") in keepers.runs  # the leader ran its task
    assert all(node == first.node_id for node, _ in keepers.runs)

    die(first)

    def took_over() -> bool:
        second.tick()
        return second.leading

    wait_for(took_over, timeout=5, interval=0.2, what="the second node to lead")
    live = {node.id: node for node in _live(container) if node.id.startswith("test-host")}
    assert set(live) == {second.node_id}  # the dead one is not shown as live
    assert live[second.node_id].leader
    assert keepers.runs[-1] == (second.node_id, "probe")


def test_a_node_that_is_not_leading_any_more_stops_its_maintenance(
    keepers: Keepers, container: Container
) -> None:
    node = keepers.new("a")
    node.tick()
    assert node.leading
    assert node._conn is not None
    node._conn.execute(f"SELECT pg_advisory_unlock({nodes.LEADER_LOCK_CLASS}, 0)")
    runs = len(keepers.runs)
    node.tick()  # it checks before each task, and steps down instead of running it
    assert not node.leading
    assert len(keepers.runs) == runs


def _lease_of(container: Container, message_id: str) -> tuple[str | None, datetime | None]:
    with container.db.transaction() as session:
        row = session.execute(
            select(Message.lease_owner, Message.lease_expires_at).where(
                Message.id == uuid.UUID(message_id)
            )
        ).one()
    return row.lease_owner, row.lease_expires_at


def _lease(container: Container, message_id: str, owner: str, seconds: int) -> None:
    with container.db.transaction() as session:
        session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(message_id))
            .values(
                lease_owner=owner,
                lease_expires_at=text(f"now() + interval '{seconds} seconds'"),
            )
        )


def test_a_running_send_has_its_lease_renewed_by_the_heartbeat(
    keepers: Keepers, container: Container, client: FlaskClient, tenant: Tenant
) -> None:
    container.broker.flush_all()  # no worker here: the job stays unclaimed
    message_id = send_message(client, tenant)
    leases = LeaseBook()
    node = keepers.new("sender", leases)
    _lease(container, message_id, node.node_id, seconds=5)
    _, before = _lease_of(container, message_id)
    with leases.holding(uuid.UUID(message_id)):
        node.tick()
    owner, after = _lease_of(container, message_id)
    assert owner == node.node_id
    assert before is not None
    assert after is not None
    assert (after - before).total_seconds() > 20  # renewed to the full 30 s lease


def test_a_dead_nodes_lease_is_given_up_at_once_and_its_message_enqueued(
    keepers: Keepers, container: Container, client: FlaskClient, tenant: Tenant
) -> None:
    container.broker.flush_all()
    alive_id, dead_id = send_message(client, tenant), send_message(client, tenant)
    # Two conversations: each message is the first owed a send in its own.
    alive, dead = keepers.new("alive"), keepers.new("dead")
    alive.tick()
    dead.tick()
    _lease(container, alive_id, alive.node_id, seconds=600)
    _lease(container, dead_id, dead.node_id, seconds=600)
    die(dead)
    report = sweep(container.db, container.queue, grace_seconds=3600)
    assert uuid.UUID(dead_id) in report.messages
    assert uuid.UUID(alive_id) not in report.messages  # a live node's send is left alone
    assert report.taken_over >= 1
    owner, expires = _lease_of(container, dead_id)
    assert owner == dead.node_id  # the claim reads it: the outcome of that send is unknown
    assert expires is not None
    assert expires <= datetime.now(UTC)  # claimable now, not in ten minutes
    assert uuid.UUID(dead_id) in RedisQueues(container.broker).delivery_message_ids()


def test_the_queued_jobs_read_stays_true_as_jobs_come_and_go(
    container: Container, client: FlaskClient, tenant: Tenant
) -> None:
    # One reader across sweeps, as the leader keeps it: what it remembers of a job must
    # leave with the job.
    container.broker.flush_all()
    jobs = RedisQueues(container.broker)
    first = uuid.UUID(send_message(client, tenant))
    assert jobs.delivery_message_ids() == {first}
    container.broker.flush_all()  # its job is gone
    second = uuid.UUID(send_message(client, tenant))
    container.queue.enqueue_delivery(first, delay_ms=60_000)  # a delayed job of its own
    assert jobs.delivery_message_ids() == {first, second}
    container.broker.flush_all()
    assert jobs.delivery_message_ids() == set()


def test_the_sweep_enqueues_what_redis_lost_without_waiting_and_never_doubles_a_queued_job(
    container: Container, client: FlaskClient, tenant: Tenant
) -> None:
    container.broker.flush_all()
    lost = send_message(client, tenant)
    container.broker.flush_all()  # Redis restarted empty: the job is gone
    queued = send_message(client, tenant)  # its job is in Redis
    with container.db.transaction() as session:  # both accepted a while ago
        session.execute(
            update(Message)
            .where(Message.id.in_([uuid.UUID(lost), uuid.UUID(queued)]))
            .values(enqueued_at=text("now() - interval '10 seconds'"))
        )
    jobs = RedisQueues(container.broker)
    report = sweep(container.db, container.queue, grace_seconds=3600, jobs=jobs)
    assert uuid.UUID(lost) in report.messages  # no grace period: the job is known gone
    assert uuid.UUID(queued) not in report.messages
    assert {uuid.UUID(lost), uuid.UUID(queued)} <= jobs.delivery_message_ids()
    again = sweep(container.db, container.queue, grace_seconds=0, jobs=jobs)
    assert uuid.UUID(lost) not in again.messages  # now queued: not doubled
    container.broker.flush_all()


def test_the_leaders_tasks_sweep_prune_and_forget_nodes_long_dead(container: Container) -> None:
    gone, recent = (
        f"test-host:1:gone-{uuid.uuid4().hex[:4]}",
        f"test-host:2:recent-{uuid.uuid4().hex[:4]}",
    )
    with container.db.transaction() as session:
        for node_id, age_s in ((gone, 3600), (recent, 5)):
            session.execute(
                text(
                    "INSERT INTO worker_nodes (id, host, pid, queues, started_at, heartbeat_at) "
                    "VALUES (:id, 'test-host', 1, 'all', now(), "
                    "now() - make_interval(secs => :age))"
                ),
                {"id": node_id, "age": age_s},
            )
    tasks = {task.name: task for task in maintenance_tasks(container)}
    assert set(tasks) == {
        "sweep",
        "prune",
        "forget_nodes",
        "template_sync",
        "disable_failing_endpoints",
    }
    details = {name: task.run() for name, task in tasks.items()}
    json.dumps(details)  # recorded as jsonb in maintenance_runs
    assert details["forget_nodes"]["forgotten"] >= 1
    with container.db.transaction() as session:
        left = set(session.execute(text("SELECT id FROM worker_nodes")).scalars())
    assert gone not in left  # dead for an hour: forgotten
    assert recent in left  # dead a moment ago: still shown to operators
    assert details["prune"]["complete"] is True


class _ClaimWhileReading:
    """The broker's queued jobs, read while a worker claims ``message_id``: the claim's row
    lock must not wait for the sweep (NOWAIT raises if the sweep already holds the row)."""

    def __init__(self, container: Container, message_id: str) -> None:
        self._container, self._message_id = container, message_id
        self.claimed = False

    def delivery_message_ids(self) -> set[uuid.UUID]:
        with self._container.db.transaction() as session:
            locked = session.execute(
                text("SELECT id FROM messages WHERE id = :id FOR UPDATE NOWAIT"),
                {"id": self._message_id},
            ).scalar()
        self.claimed = locked is not None
        return RedisQueues(self._container.broker).delivery_message_ids()


def test_the_sweep_locks_no_queued_message_while_it_reads_the_broker(
    container: Container, client: FlaskClient, tenant: Tenant
) -> None:
    container.broker.flush_all()
    queued = send_message(client, tenant)  # a backlog's message: its job waits in Redis
    with container.db.transaction() as session:
        session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(queued))
            .values(enqueued_at=text("now() - interval '10 seconds'"))
        )
    jobs = _ClaimWhileReading(container, queued)
    report = sweep(container.db, container.queue, grace_seconds=3600, jobs=jobs)
    assert jobs.claimed
    assert uuid.UUID(queued) not in report.messages
    container.broker.flush_all()
