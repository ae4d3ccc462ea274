"""`wapipe dlq`: dead letters listed from Redis, replayed only when PostgreSQL says so."""

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq import Worker
from flask.testing import FlaskClient

from fakeprovider import FakeProvider
from pipeline.bootstrap import Container, bootstrap
from pipeline.config import Settings
from pipeline.services import dlq
from pipeline.services.audit import Operator
from tests.cli_support import Wapipe
from tests.conftest import APP_SECRET, Tenant
from tests.support import (
    new_phone,
    send_message,
    signed_headers,
    status,
    status_body,
    status_of,
    wait_for,
)
from webhooks.service import process_webhook
from workers.broker import DELIVERIES, WEBHOOKS
from workers.queues import queue_depths

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "workers/actors.py", line 30, in deliver_message\n'
    "psycopg.OperationalError: connection is bad: server closed the connection\n"
)


@pytest.fixture
def dead(settings: Settings) -> Iterator[Container]:
    """A container on queues of its own, so no other test's job is dead-lettered by mistake."""
    namespace = f"{settings.wapipe_queue_namespace}-dlq-{uuid.uuid4().hex[:6]}"
    own = bootstrap(settings.model_copy(update={"wapipe_queue_namespace": namespace}))
    yield own
    for queue in (DELIVERIES, WEBHOOKS):
        own.broker.flush(queue)
    own.broker.client.close()
    own.close()


@pytest.fixture
def cli(dead: Container) -> Wapipe:
    return Wapipe(dead.settings)


def _dead_letter(container: Container, actor: str, arg: Any, traceback: str | None) -> str:
    """A job whose retries ran out, put in the dead-letter queue by dramatiq's own nack."""
    options = {"retries": 30} | ({"traceback": traceback} if traceback else {})
    # `process_webhook` jobs come only from older versions: no actor sends them any more.
    queue = DELIVERIES if actor == "deliver_message" else WEBHOOKS
    container.broker.declare_queue(queue)
    sent = container.broker.enqueue(
        dramatiq.Message(
            queue_name=queue, actor_name=actor, args=(arg,), kwargs={}, options=options
        )
    )
    consumer = container.broker.consume(sent.queue_name, prefetch=1, timeout=50)
    try:
        job = wait_for(lambda: next(consumer), what="the job to be fetched")
        consumer.nack(job)
    finally:
        consumer.close()
    job_id: str = sent.options["redis_message_id"]
    return job_id


def test_list_shows_each_dead_job_with_its_target_age_and_last_error(
    cli: Wapipe, dead: Container
) -> None:
    message_id = str(uuid.uuid4())
    job_id = _dead_letter(dead, "deliver_message", message_id, TRACEBACK)
    output = cli("dlq", "list").output
    assert job_id[:8] in output
    assert message_id in output
    assert "deliver_message" in output
    assert "psycopg.OperationalError: connection is bad" in output
    [job] = cli.json("dlq", "list")
    assert (job["job_id"], job["actor"], job["args"]) == (job_id, "deliver_message", [message_id])
    assert job["last_error"].startswith("psycopg.OperationalError")
    assert job["retries"] == 30


def test_show_prints_the_whole_traceback_and_what_a_replay_would_do(
    cli: Wapipe, dead: Container
) -> None:
    job_id = _dead_letter(dead, "deliver_message", str(uuid.uuid4()), TRACEBACK)
    output = cli("dlq", "show", job_id[:8]).output
    assert 'File "workers/actors.py", line 30' in output
    assert "keep: no such message" in output
    assert cli.json("dlq", "show", job_id)["replay"] == "keep"
    assert "Error: no dead job ffffffff" in cli("dlq", "show", "ffffffff", code=1).output


def test_replay_requeues_a_job_whose_message_is_still_sending_and_it_is_sent_once(
    cli: Wapipe,
    dead: Container,
    client: FlaskClient,
    tenant: Tenant,
    fake_provider: FakeProvider,
    live_url: str,
) -> None:
    message_id = send_message(client, tenant)  # no worker runs: its job waits, like a stuck one
    _dead_letter(dead, "deliver_message", message_id, TRACEBACK)
    output = cli("dlq", "replay", "--yes").output
    assert "1 requeued" in output
    assert cli.json("dlq", "list") == []
    worker = Worker(dead.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_for(lambda: status_of(dead, message_id) != "sending", what="the replayed send")
    finally:
        worker.stop(timeout=10_000)
    assert fake_provider.state.sends_for(message_id)["count"] == 1
    [action] = cli.json("audit", "--message", message_id)
    assert action["action"] == "dlq.replay"
    assert action["details"]["outcomes"][0]["outcome"] == "requeued"


def test_replay_never_resends_a_message_that_was_already_sent(
    cli: Wapipe,
    dead: Container,
    client: FlaskClient,
    tenant: Tenant,
    fake_provider: FakeProvider,
    worker: Worker,
) -> None:
    message_id = send_message(client, tenant)
    wait_for(lambda: status_of(dead, message_id) == "read", what="the message to be read")
    _dead_letter(dead, "deliver_message", message_id, TRACEBACK)
    output = cli("dlq", "replay", "--yes").output
    assert "already read: not resent" in output
    assert "1 dropped" in output
    assert cli.json("dlq", "list") == []
    assert queue_depths(dead.broker)[DELIVERIES]["ready"] == 0
    assert fake_provider.state.sends_for(message_id)["count"] == 1


def test_replay_keeps_a_failed_messages_job_unless_asked_to_retry_it(
    cli: Wapipe,
    dead: Container,
    client: FlaskClient,
    tenant: Tenant,
    fake_provider: FakeProvider,
    worker: Worker,
) -> None:
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131026, 1)
    response = client.post("/v1/messages", json={"to": phone, "text": "x"}, headers=tenant.auth)
    message_id = response.get_json()["id"]
    wait_for(lambda: status_of(dead, message_id) == "failed", what="the message to fail")
    job_id = _dead_letter(dead, "deliver_message", message_id, TRACEBACK)
    [plan] = cli.json("dlq", "replay", "--dry-run")
    assert (plan["action"], plan["why"]) == ("keep", "failed: needs --retry-failed")
    assert "nothing to replay" in cli("dlq", "replay", "--yes").output
    refused = cli("dlq", "replay", input="n\n").output  # the offer, declined
    assert "retry them?" in refused
    assert [j["job_id"] for j in cli.json("dlq", "list")] == [job_id]
    retried = cli("dlq", "replay", job_id[:8], "--retry-failed", "--yes").output
    assert "1 retried" in retried
    assert status_of(dead, message_id) == "sending"
    assert queue_depths(dead.broker)[DELIVERIES]["ready"] == 1
    assert cli.json("dlq", "list") == []


def test_replay_drops_an_old_webhook_job_and_the_applier_applies_its_delivery(
    cli: Wapipe, dead: Container, client: FlaskClient, tenant: Tenant
) -> None:
    body = status_body(tenant.phone_number_id, [status(f"wamid.{uuid.uuid4().hex}", "sent", 1)])
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    waiting = response.get_json()["received"]  # no worker runs: not processed
    _dead_letter(dead, "process_webhook", waiting, None)
    plan = cli.json("dlq", "replay", "--dry-run")
    why = "not processed yet: the webhook applier takes it"
    assert [(p["action"], p["why"]) for p in plan] == [("drop", why)]
    assert "1 dropped" in cli("dlq", "replay", "--yes").output
    assert queue_depths(dead.broker)[WEBHOOKS]["ready"] == 0
    assert cli.json("dlq", "list") == []
    assert process_webhook(dead.db, waiting)  # still unprocessed: nothing was lost


def test_two_concurrent_replays_enqueue_a_job_once(
    dead: Container, client: FlaskClient, tenant: Tenant
) -> None:
    message_id = send_message(client, tenant)
    _dead_letter(dead, "deliver_message", message_id, TRACEBACK)
    steps = dlq.plan_replay(dead.db, dlq.list_dead(dead.broker))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def replay(name: str) -> None:
        barrier.wait()
        result = dlq.replay(dead.db, dead.broker, dead.queue, Operator(name), steps)
        outcomes.extend(job["outcome"] for job in result["jobs"])

    threads = [threading.Thread(target=replay, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["gone", "requeued"]
    assert queue_depths(dead.broker)[DELIVERIES]["ready"] == 1


def test_purge_asks_first_then_deletes_and_is_audited(cli: Wapipe, dead: Container) -> None:
    job_ids = [_dead_letter(dead, "deliver_message", str(uuid.uuid4()), None) for _ in range(2)]
    refused = cli("dlq", "purge", input="n\n", code=1).output
    assert "Delete 2 dead job(s) for good?" in refused
    assert len(cli.json("dlq", "list")) == 2
    assert "purged 1 dead job(s)" in cli("dlq", "purge", job_ids[0], "--yes").output
    assert cli.json("dlq", "purge", "--yes") == {"purged": 1}
    assert cli.json("dlq", "list") == []
    purges = cli.json("audit", "--action", "dlq.purge")
    assert {j["job_id"] for a in purges[:2] for j in a["details"]["jobs"]} == set(job_ids)


def test_a_job_that_died_in_a_real_worker_shows_its_real_error_and_is_kept(
    cli: Wapipe, dead: Container
) -> None:
    dramatiq.set_broker(dead.broker)
    dead.actors.deliver_message.send_with_options(
        args=("not-a-message-id",), max_retries=1, min_backoff=10, max_backoff=20
    )
    worker = Worker(dead.broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        job = wait_for(lambda: dlq.list_dead(dead.broker), what="the job to die")[0]
    finally:
        worker.stop(timeout=10_000)
    assert job.last_error == "ValueError: badly formed hexadecimal UUID string"
    assert "badly formed hexadecimal UUID string" in cli("dlq", "list").output
    assert "malformed: not a message id" in cli("dlq", "replay", "--yes").output
    assert len(cli.json("dlq", "list")) == 1
