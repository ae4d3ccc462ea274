"""The ambiguous window: a send whose outcome is unknown is reconciled, not blindly repeated."""

import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from db.models import Message
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from pipeline.services.delivery import AMBIGUOUS, Deliverer, Outcome
from tests.conftest import APP_SECRET, Tenant
from tests.support import new_phone, signed_headers, status, status_body
from webhooks.service import process_webhook


@pytest.fixture
def deliverer(container: Container) -> Deliverer:
    return Deliverer(
        container.db, container.provider, container.queue, container.settings, "test-worker"
    )


def _send(client: FlaskClient, tenant: Tenant) -> uuid.UUID:
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "x"}, headers=tenant.auth
    )
    return uuid.UUID(response.get_json()["id"])


def _left_by_a_dead_worker(container: Container, message_id: uuid.UUID) -> None:
    """A worker claimed it and died: its lease has run out, the outcome is unknown."""
    with container.db.transaction() as session:
        session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(lease_owner="dead-host:1234", lease_expires_at=func.now(), attempts=1)
        )


def _end_the_wait(container: Container, message_id: uuid.UUID) -> None:
    """Time passes: the reconciliation window runs out."""
    with container.db.transaction() as session:
        session.execute(
            update(Message).where(Message.id == message_id).values(lease_expires_at=func.now())
        )


def _row(container: Container, message_id: uuid.UUID) -> Message:
    with container.db.transaction() as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


def test_a_dead_workers_message_waits_for_a_webhook_before_any_resend(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    deliverer: Deliverer,
    fake_provider: FakeProvider,
) -> None:
    message_id = _send(client, tenant)
    _left_by_a_dead_worker(container, message_id)

    result = deliverer.deliver(message_id)

    assert result.outcome is Outcome.RETRY
    assert result.retry_in_ms == container.settings.wapipe_ambiguous_wait_ms
    assert fake_provider.state.sends_for(str(message_id))["count"] == 0
    assert _row(container, message_id).lease_owner == AMBIGUOUS


def test_a_webhook_in_the_window_adopts_the_wamid_and_nothing_is_resent(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    deliverer: Deliverer,
    fake_provider: FakeProvider,
) -> None:
    message_id = _send(client, tenant)
    _left_by_a_dead_worker(container, message_id)
    deliverer.deliver(message_id)
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = status_body(tenant.phone_number_id, [status(wamid, "sent", 1_763_800_000, message_id)])
    delivery = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert process_webhook(container.db, delivery.get_json()["received"])
    _end_the_wait(container, message_id)

    assert deliverer.deliver(message_id).outcome is Outcome.SKIPPED

    message = _row(container, message_id)
    assert message.status == "sent"
    assert message.provider_message_id == wamid
    assert message.ambiguous_resends == 0
    assert fake_provider.state.sends_for(str(message_id))["count"] == 0


def test_without_a_webhook_the_message_is_resent_once_and_counted(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    deliverer: Deliverer,
    fake_provider: FakeProvider,
) -> None:
    message_id = _send(client, tenant)
    _left_by_a_dead_worker(container, message_id)
    deliverer.deliver(message_id)
    _end_the_wait(container, message_id)

    assert deliverer.deliver(message_id).outcome is Outcome.SENT

    message = _row(container, message_id)
    assert message.status == "sent"
    assert message.ambiguous_resends == 1
    assert fake_provider.state.sends_for(str(message_id))["count"] == 1


def test_a_timeout_after_the_request_left_is_reconciled_like_a_dead_worker(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    deliverer: Deliverer,
    fake_provider: FakeProvider,
) -> None:
    fake_provider.state.patch_config({"timeout_rate": 1.0, "timeout_seconds": 4.0})
    try:
        message_id = _send(client, tenant)
        result = deliverer.deliver(message_id)
    finally:
        fake_provider.state.patch_config({"timeout_rate": 0.0})
    assert result.outcome is Outcome.RETRY
    assert result.error is not None
    assert result.error.error_code == "timeout"
    assert result.retry_in_ms is not None
    assert result.retry_in_ms >= container.settings.wapipe_ambiguous_wait_ms
    # The provider took it (the fake counts it), and the in-process retry did not send again.
    assert fake_provider.state.sends_for(str(message_id))["count"] == 1
    assert _row(container, message_id).lease_owner == AMBIGUOUS
    with container.db.transaction() as session:
        outcomes = session.scalars(select(Message.attempts).where(Message.id == message_id)).all()
    assert outcomes == [1]
