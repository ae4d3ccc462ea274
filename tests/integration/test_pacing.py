"""Pacing and throttling: the Redis limiter itself, and rate limits met with real workers
against the fake provider (the pacing test with real processes is tests/e2e/test_pacing.py)."""

import itertools
import threading
import time
import uuid
from dataclasses import replace

import dramatiq
import pytest
import redis
from dramatiq import Worker
from dramatiq.common import current_millis
from flask.testing import FlaskClient
from sqlalchemy import select

from db.models import DeliveryAttempt, Message
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from pipeline.services.delivery import Outcome
from pipeline.services.enqueue import enqueue_after_commit
from pipeline.services.ports import ChannelPace
from tests.conftest import Tenant
from tests.support import free_port, new_phone, send_message, status_of, wait_for
from workers.broker import DELIVERIES
from workers.pacing import RedisPacer
from workers.queues import RedisQueues


@pytest.fixture(autouse=True)
def _clean_rules(fake_provider: FakeProvider) -> None:
    fake_provider.state.clear_rules()


def _channel(rate: int) -> ChannelPace:
    return ChannelPace(uuid.uuid4(), rate)  # a fresh channel: its own keys


def _slots(container: Container, channel: ChannelPace, count: int) -> list[int]:
    """The delays (ms) of the channel's next ``count`` send slots, as the intake reserves
    them (each with a job, for a message that does not exist: a worker would skip it)."""
    return container.queue.enqueue_in_slots(channel, [uuid.uuid4() for _ in range(count)], 0)


# --- the limiter itself, against real Redis ----------------------------------------------


def test_the_gate_admits_one_seconds_worth_at_once_then_says_how_long_to_wait(
    container: Container,
) -> None:
    pacer, channel = container.pacer, _channel(5)
    assert [pacer.admit(channel) for _ in range(5)] == [0] * 5
    wait = pacer.admit(channel)
    assert 0 < wait <= 1000
    # The refused send was given the next slot: the one after it waits a fifth longer.
    assert pacer.admit(channel) == pytest.approx(wait + 200, abs=25)


def test_the_window_slides(container: Container) -> None:
    pacer, channel = container.pacer, _channel(2)
    assert [pacer.admit(channel), pacer.admit(channel)] == [0, 0]
    started = time.monotonic()
    wait_for(lambda: pacer.admit(channel) == 0, timeout=3, interval=0.05, what="a free slot")
    assert 0.9 < time.monotonic() - started < 1.5


def test_threads_racing_for_a_channel_get_exactly_its_rate(container: Container) -> None:
    """Sixteen threads (as many workers) ask eighty times within a few milliseconds."""
    pacer, channel = container.pacer, _channel(10)
    barrier = threading.Barrier(16)
    admitted: list[int] = []

    def race() -> None:
        barrier.wait()
        for _ in range(5):
            if pacer.admit(channel) == 0:
                admitted.append(1)

    threads = [threading.Thread(target=race) for _ in range(16)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started < 0.9  # all within one window, so exactly the rate
    assert len(admitted) == 10


def test_slots_are_reserved_one_interval_apart_in_one_call(container: Container) -> None:
    channel = _channel(10)
    first = _slots(container, channel, 5)
    assert first[0] == 0
    assert [b - a for a, b in itertools.pairwise(first)] in (
        [100] * 4,
        [99, 100, 100, 100],
    )
    later = _slots(container, channel, 2)
    assert later[0] == pytest.approx(500, abs=30)  # after the five already given
    assert _slots(container, _channel(10), 1) == [0]  # another channel is not behind it


def test_jobs_enqueued_in_slots_are_what_dramatiq_itself_would_write(
    container: Container,
) -> None:
    """One call reserves the slots and writes each job: a near slot's job is ready, a far
    one's waits in the delayed queue until its eta, each decodable as Dramatiq's own."""
    channel, ids = _channel(5), [uuid.uuid4() for _ in range(3)]
    started = current_millis()
    delays = container.queue.enqueue_in_slots(channel, ids, 100)
    assert delays[0] == 0
    assert delays[1:] == [pytest.approx(200, abs=2), pytest.approx(400, abs=2)]
    queues = RedisQueues(container.broker)
    by_id = {}
    for queue in (DELIVERIES, f"{DELIVERIES}.DQ"):
        for raw in queues.pending_jobs(queue):
            job = dramatiq.Message.decode(raw)
            by_id[job.args[0]] = job
    ready, *delayed = (by_id[str(i)] for i in ids)
    assert ready.queue_name == DELIVERIES
    assert "eta" not in ready.options
    for job, delay in zip(delayed, delays[1:], strict=True):
        assert job.queue_name == f"{DELIVERIES}.DQ"
        assert job.options["eta"] == pytest.approx(started + delay, abs=50)
    for job in (ready, *delayed):
        assert job.actor_name == "deliver_message"
        assert job.options["redis_message_id"]
    # The schedule goes on after them.
    assert _slots(container, channel, 1)[0] == pytest.approx(600, abs=30)


def test_a_hold_stops_sends_and_slots_until_it_ends(container: Container) -> None:
    pacer, channel = container.pacer, _channel(80)
    pacer.hold(channel, 700)
    pacer.hold(channel, 100)  # a shorter hold does not cut the longer one
    assert pacer.admit(channel) == pytest.approx(700, abs=40)
    assert _slots(container, channel, 1)[0] >= 650


def test_the_keys_live_under_the_queue_namespace(container: Container) -> None:
    pacer, channel = container.pacer, _channel(3)
    pacer.admit(channel)
    _slots(container, channel, 1)
    namespace = container.settings.wapipe_queue_namespace
    found = container.broker.client.keys(f"*{channel.company_id}*")
    keys = {k.decode() if isinstance(k, bytes) else str(k) for k in found}
    assert keys == {
        f"{namespace}:pace:{{{channel.company_id}}}:sent",
        f"{namespace}:pace:{{{channel.company_id}}}:next",
    }
    assert all(container.broker.client.pttl(k) > 0 for k in keys)  # nothing left for ever
    other = RedisPacer(container.broker.client, f"{namespace}-other")
    assert other.admit(ChannelPace(channel.company_id, 1)) == 0  # another deployment's window


# --- fairness ------------------------------------------------------------------------------


def _arrival_at(fake: FakeProvider, tenant: Tenant, phone: str) -> float | None:
    arrivals = fake.state.arrivals(tenant.phone_number_id)
    return next((a.at for a in arrivals if a.to == phone.lstrip("+")), None)


def test_a_company_10000_messages_behind_does_not_hold_back_another_companys_message(
    client: FlaskClient,
    tenant: Tenant,
    other_tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    """The backlog is 10,000 jobs paced at 10 a second (their messages need not exist: a job
    for a missing message is dropped when due); the issue asks for the other within 2 s."""
    backlog = [uuid.uuid4() for _ in range(10_000)]
    try:
        assert (
            enqueue_after_commit(container.queue, backlog, ChannelPace(tenant.company_id, 10)) == 0
        )
        # (those due while the rest were being enqueued have left the delayed queue)
        assert RedisQueues(container.broker).depths()["deliveries"].delayed >= 9_000
        phone = new_phone()
        posted = time.time()
        send_message(client, other_tenant, to=phone)
        arrived = wait_for(lambda: _arrival_at(fake_provider, other_tenant, phone), timeout=5)
        print(f"\nbehind 10,000 paced jobs of another company: sent in {arrived - posted:.3f} s")
        assert arrived - posted < 2.0
    finally:
        container.broker.flush("deliveries")  # this session's queue: the backlog goes


# --- throttling ----------------------------------------------------------------------------


def _attempts(
    container: Container, message_id: str
) -> tuple[int | None, list[tuple[str, str | None]]]:
    with container.db.transaction() as session:
        budget_used = session.scalar(
            select(Message.attempts).where(Message.id == uuid.UUID(message_id))
        )
        rows = session.execute(
            select(DeliveryAttempt.outcome, DeliveryAttempt.error_code)
            .where(DeliveryAttempt.message_id == uuid.UUID(message_id))
            .order_by(DeliveryAttempt.id)
        ).all()
    return budget_used, [(r.outcome, r.error_code) for r in rows]


def _gaps(fake: FakeProvider, tenant: Tenant, phone: str) -> list[float]:
    arrivals = fake.state.arrivals(tenant.phone_number_id)
    times = [a.at for a in arrivals if a.to == phone.lstrip("+")]
    return [b - a for a, b in itertools.pairwise(times)]


def test_throughput_limits_back_off_without_using_the_attempt_budget(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    budget = container.settings.wapipe_max_attempts
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 130429, budget + 2)
    message_id = send_message(client, tenant, to=phone)
    wait_for(lambda: status_of(container, message_id) == "read", timeout=20)
    used, attempts = _attempts(container, message_id)
    assert used == 1
    assert attempts == [("throttled", "130429")] * (budget + 2) + [("sent", None)]
    # Each back-off doubles from the minimum (100 ms here) up to the maximum (400 ms).
    floors = [0.1, 0.2, 0.4, 0.4, 0.4, 0.4, 0.4]
    assert all(
        gap >= floor
        for gap, floor in zip(_gaps(fake_provider, tenant, phone), floors, strict=False)
    )


def test_a_throughput_limit_holds_the_whole_channel(
    client: FlaskClient,
    tenant: Tenant,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    # Backoffs of seconds (the tests' own are 100-400 ms): the hold outlasts the next claim.
    settings = container.settings.model_copy(
        update={"wapipe_retry_min_backoff_ms": 3000, "wapipe_retry_max_backoff_ms": 6000}
    )
    deliverer = replace(container.deliverer, settings=settings, worker_id="hold-test")
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 130429, 1)
    message_id = uuid.UUID(send_message(client, tenant, to=phone))
    other = uuid.UUID(send_message(client, tenant))
    assert deliverer.deliver(message_id).retry_in_ms
    # The other message of the channel is not sent while the hold lasts.
    result = deliverer.deliver(other)
    assert result.retry_in_ms is not None
    assert result.retry_in_ms > 0
    assert fake_provider.state.sends_for(str(other))["count"] == 0
    _, attempts = _attempts(container, str(other))
    assert attempts == []  # waiting for a slot is not an attempt


def test_a_pair_rate_limit_waits_four_to_the_n_seconds_without_using_the_budget(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131056, 2)
    message_id = send_message(client, tenant, to=phone)
    wait_for(lambda: status_of(container, message_id) == "read", timeout=15)
    used, attempts = _attempts(container, message_id)
    assert used == 1
    assert attempts == [("throttled", "131056")] * 2 + [("sent", None)]
    first, second = _gaps(fake_provider, tenant, phone)
    assert 1.0 <= first < 1.25 + 0.4  # 4^0 s, jitter up to a quarter, and the poll
    assert 4.0 <= second < 5.0 + 0.4  # 4^1 s


def test_with_redis_unreachable_nothing_is_sent_unpaced_and_the_message_waits(
    client: FlaskClient, tenant: Tenant, fake_provider: FakeProvider, container: Container
) -> None:
    """The gate fails closed: a message claimed while Redis is out is given back (the attempt
    not counted) and asks again a second later; the worker carries on."""
    nowhere = redis.Redis(port=free_port(), socket_connect_timeout=0.5)
    deliverer = replace(container.deliverer, gate=RedisPacer(nowhere, "down"), worker_id="no-redis")
    message_id = send_message(client, tenant)
    result = deliverer.deliver(uuid.UUID(message_id))
    assert (result.outcome, result.retry_in_ms) == (Outcome.RETRY, 1000)
    assert fake_provider.state.sends_for(message_id)["count"] == 0
    used, attempts = _attempts(container, message_id)
    assert (used, attempts) == (0, [])
    assert status_of(container, message_id) == "sending"
