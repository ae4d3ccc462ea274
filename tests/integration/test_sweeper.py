"""The sweeper recovers work whose job was lost, from PostgreSQL alone."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from db.models import Channel, Message, WebhookDelivery
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from pipeline.services.sweeper import sweep
from tests.conftest import APP_SECRET, Tenant
from tests.support import new_phone, send_message, signed_headers, status, status_body, wait_for


def _statuses(container: Container, ids: list[str]) -> dict[str, str]:
    with container.db.transaction() as session:
        rows = session.execute(
            select(Message.id, Message.status).where(Message.id.in_([uuid.UUID(i) for i in ids]))
        ).all()
    return {str(r.id): r.status for r in rows}


def _lose_every_job(container: Container) -> None:
    """What a Redis restart without persistence does: every queue, delayed or not, is gone."""
    container.broker.flush_all()


def test_messages_whose_jobs_were_lost_are_delivered_after_a_sweep(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    fake_provider: FakeProvider,
    live_url: str,
) -> None:
    ids = [send_message(client, tenant) for _ in range(5)]
    _lose_every_job(container)
    with pytest.raises(AssertionError):  # nothing moves while the jobs are gone...
        wait_for(lambda: "sent" in _statuses(container, ids).values(), timeout=0.5)
    worker = Worker(container.broker, worker_threads=4, worker_timeout=100)
    worker.start()
    try:
        report = sweep(container.db, container.queue, grace_seconds=0)
        assert set(map(str, report.messages)) >= set(ids)
        wait_for(
            lambda: set(_statuses(container, ids).values()) == {"read"},
            what="swept messages to reach read",
        )
    finally:
        worker.stop(timeout=10_000)
    for message_id in ids:
        assert fake_provider.state.sends_for(message_id)["count"] == 1


def test_a_second_sweep_within_the_grace_enqueues_nothing_again(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = send_message(client, tenant)
    _lose_every_job(container)
    first = sweep(container.db, container.queue, grace_seconds=0)
    assert uuid.UUID(message_id) in first.messages
    again = sweep(container.db, container.queue, grace_seconds=60)
    assert uuid.UUID(message_id) not in again.messages


def test_a_leased_message_is_not_swept(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = uuid.UUID(send_message(client, tenant))
    with container.db.transaction() as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(lease_owner="someone", lease_expires_at=Message.created_at + _minutes(10))
        )
    report = sweep(container.db, container.queue, grace_seconds=0)
    assert message_id not in report.messages


def test_only_the_first_waiting_message_of_a_conversation_is_swept(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()
    first, second = send_message(client, tenant, phone), send_message(client, tenant, phone)
    report = sweep(container.db, container.queue, grace_seconds=0)
    assert uuid.UUID(first) in report.messages
    assert uuid.UUID(second) not in report.messages


def _delivered_webhook(client: FlaskClient, tenant: Tenant) -> tuple[str, int]:
    """A message and a stored `delivered` webhook for it; (message id, delivery id)."""
    message_id = send_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = status_body(
        tenant.phone_number_id, [status(wamid, "delivered", 1_763_800_000, biz=message_id)]
    )
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 200
    delivery_id: int = response.get_json()["received"]
    return message_id, delivery_id


def test_a_stored_webhook_needs_no_job_and_is_applied_after_redis_empties(
    client: FlaskClient, tenant: Tenant, container: Container, worker: Worker
) -> None:
    # Its channel paused: no worker sends the message, whatever job reaches it, so only
    # the stored webhook can move it.
    with container.db.transaction() as session:
        paused = update(Channel).where(Channel.company_id == tenant.company_id)
        session.execute(paused.values(paused_at=func.now()))
    _lose_every_job(container)
    message_id, _ = _delivered_webhook(client, tenant)
    _lose_every_job(container)
    wait_for(
        lambda: _statuses(container, [message_id])[message_id] == "delivered",
        what="the worker's applier to apply the stored webhook",
    )


def test_with_no_worker_running_a_sweep_applies_overdue_webhooks(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id, delivery_id = _delivered_webhook(client, tenant)
    assert _statuses(container, [message_id])[message_id] == "sending"
    report = sweep(container.db, container.queue, grace_seconds=0)
    assert delivery_id in report.webhooks
    assert _statuses(container, [message_id])[message_id] == "delivered"
    with container.db.transaction() as session:
        processed = session.scalar(
            select(WebhookDelivery.processed_at).where(WebhookDelivery.id == delivery_id)
        )
    assert processed is not None
    assert delivery_id not in sweep(container.db, container.queue, grace_seconds=0).webhooks


def test_messages_to_one_contact_reach_the_provider_in_intake_order(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    """Many worker threads, and transient errors on the way: the order per contact holds."""
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131000, 4)  # forces a backoff early on
    ids = [send_message(client, tenant, phone, f"m{i}") for i in range(20)]
    wait_for(
        lambda: len(fake_provider.state.recipient_callbacks(phone.lstrip("+"))) >= 20,
        timeout=30,
        what="all 20 sends",
    )
    assert fake_provider.state.recipient_callbacks(phone.lstrip("+")) == ids
    fake_provider.state.clear_rules()


def test_conversations_do_not_hold_each_other_back(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    slow, fast = new_phone(), new_phone()
    fake_provider.state.add_rule(slow.lstrip("+"), 131000, 1000)  # fails for good
    stuck = send_message(client, tenant, slow)
    others = [send_message(client, tenant, fast, f"f{i}") for i in range(5)]

    def fast_done() -> Any:
        return len(fake_provider.state.recipient_callbacks(fast.lstrip("+"))) == 5

    wait_for(fast_done, timeout=20, what="the other conversation to be sent")
    assert fake_provider.state.recipient_callbacks(fast.lstrip("+")) == others
    assert fake_provider.state.sends_for(stuck)["count"] == 0
    fake_provider.state.clear_rules()


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
