"""Nothing lost, nothing doubled outside the counted ambiguous window, order kept.

Each scenario runs the real processes (gunicorn, dramatiq, the sweeper, the fake provider),
sends hundreds of messages from several threads, breaks something for real, and checks
every promise against PostgreSQL and the fake provider's per-message send counts.
"""

import signal
import threading
import time
from pathlib import Path

import pytest

from tests.chaos.conftest import VERDICTS
from tests.chaos.harness import ChaosStack, Load, Verdict, chaos_stack, send_load, verify
from tests.chaos.servers import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.chaos

PHONES, PER_PHONE = 100, 3  # 300 messages; three per contact to test their order


def _check(name: str, verdict: Verdict) -> None:
    VERDICTS.append(verdict.line(name))
    assert verdict.accepted == PHONES * PER_PHONE  # every message was accepted, once
    assert verdict.lost == 0
    assert verdict.uncounted_doubles == 0
    assert verdict.out_of_order == 0


def _run(stack: ChaosStack) -> tuple[Load, float]:
    load = send_load(stack, PHONES, PER_PHONE)
    return load, time.monotonic()


def test_api_killed_between_commit_and_enqueue(
    tmp_path: Path, database_url: str, private_redis: PrivateRedis
) -> None:
    with chaos_stack(
        tmp_path, database_url, private_redis.url, api_faults="api_after_commit:0.05"
    ) as stack:
        load, since = _run(stack)
        verdict = verify(stack, load, since)
    assert load.refused > 0  # the fault fired: some requests died after their commit
    assert len(set(load.accepted)) == len(load.accepted)  # a retried request made no twin
    _check("api killed after commit", verdict)
    assert verdict.sent_twice == 0


def test_worker_killed_after_claiming(
    tmp_path: Path, database_url: str, private_redis: PrivateRedis
) -> None:
    with chaos_stack(
        tmp_path, database_url, private_redis.url, worker_faults="worker_after_claim:0.02"
    ) as stack:
        load, since = _run(stack)
        verdict = verify(stack, load, since)
    _check("worker killed after claim", verdict)


def test_worker_killed_during_the_provider_call(
    tmp_path: Path, database_url: str, private_redis: PrivateRedis
) -> None:
    with chaos_stack(
        tmp_path, database_url, private_redis.url, fake_args=("--latency-ms", "150")
    ) as stack:
        stop = threading.Event()

        def killer() -> None:
            while not stop.wait(1.5):
                stack.worker.signal(signal.SIGKILL)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        try:
            load = send_load(stack, PHONES, PER_PHONE)
            time.sleep(3)  # keep killing a while after the load, while sends are in flight
        finally:
            stop.set()
            thread.join()
        verdict = verify(stack, load, time.monotonic())
    _check("worker killed mid-call", verdict)


def test_worker_killed_after_the_provider_accepted(
    tmp_path: Path, database_url: str, private_redis: PrivateRedis
) -> None:
    with chaos_stack(
        tmp_path, database_url, private_redis.url, worker_faults="worker_after_send:0.02"
    ) as stack:
        load, since = _run(stack)
        verdict = verify(stack, load, since)
    _check("worker killed after provider 200", verdict)


def test_redis_restarted_empty_under_load(
    tmp_path: Path, database_url: str, private_redis: PrivateRedis
) -> None:
    with chaos_stack(tmp_path, database_url, private_redis.url) as stack:
        restarted = threading.Event()

        def restart_when_busy() -> None:
            time.sleep(1.0)
            private_redis.restart_empty()  # every queue, delayed and dead-letter set: gone
            restarted.set()

        thread = threading.Thread(target=restart_when_busy, daemon=True)
        thread.start()
        load = send_load(stack, PHONES, PER_PHONE)
        thread.join()
        verdict = verify(stack, load, time.monotonic())
    assert restarted.is_set()
    _check("redis restarted empty", verdict)


def test_postgres_restarted_under_load(
    tmp_path: Path, private_postgres: PrivatePostgres, private_redis: PrivateRedis
) -> None:
    with chaos_stack(tmp_path, private_postgres.url, private_redis.url) as stack:

        def crash_and_restart() -> None:
            time.sleep(1.0)
            private_postgres.crash()
            time.sleep(2.0)
            private_postgres.start()

        thread = threading.Thread(target=crash_and_restart, daemon=True)
        thread.start()
        load = send_load(stack, PHONES, PER_PHONE)
        thread.join()
        verdict = verify(stack, load, time.monotonic())
    assert load.refused > 0  # requests during the outage were refused, then retried
    assert len(set(load.accepted)) == len(load.accepted)
    _check("postgres restarted", verdict)
