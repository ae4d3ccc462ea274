"""Delivery through a real Dramatiq worker on real Redis, against the fake provider."""

import logging
import threading
import uuid
from typing import Any

import httpx
import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from db.models import DeliveryAttempt, Message
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from pipeline.crypto import new_key
from pipeline.domain.errors import Conflict
from pipeline.services import delivery
from pipeline.services.channels import ChannelState, list_channels, pause_channel, resume_channel
from pipeline.services.delivery import Deliverer, Outcome
from pipeline.services.sweeper import sweep
from tests.conftest import Tenant
from tests.support import new_phone, wait_for


def _send(client: FlaskClient, tenant: Tenant, **extra: Any) -> dict[str, Any]:
    body = {"to": new_phone(), "text": "hello"} | extra
    response = client.post("/v1/messages", json=body, headers=tenant.auth)
    assert response.status_code == 202, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def _message(client: FlaskClient, tenant: Tenant, message_id: str) -> dict[str, Any]:
    result: dict[str, Any] = client.get(
        f"/v1/messages/{message_id}", headers=tenant.auth
    ).get_json()
    return result


def _wait_status(
    client: FlaskClient, tenant: Tenant, message_id: str, status: str, timeout: float = 20
) -> dict[str, Any]:
    return wait_for(
        lambda: (m := _message(client, tenant, message_id))["status"] == status and m,
        timeout=timeout,
        what=f"{message_id} to reach {status}",
    )


def _sends(fake: FakeProvider, message_id: str) -> int:
    count: int = fake.state.sends_for(message_id)["count"]
    return count


@pytest.fixture(autouse=True)
def _clean_rules(fake_provider: FakeProvider) -> None:
    fake_provider.state.clear_rules()


def test_a_message_is_sent_once_and_advances_to_read(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    sent = _send(client, tenant)
    message = _wait_status(client, tenant, sent["id"], "read")
    assert message["provider_message_id"].startswith("wamid.")
    assert message["sent_at"]
    assert message["delivered_at"]
    assert message["read_at"]
    assert message["attempts"] == 1
    assert _sends(fake_provider, sent["id"]) == 1
    applied = [(h["status"], h["source"]) for h in message["history"] if h["applied"]]
    assert applied[0] == ("sending", "intake")
    assert applied[-1] == ("read", "webhook")


def test_a_reply_carries_the_wamid_of_the_message_it_answers(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    first = _send(client, tenant)
    original = _wait_status(client, tenant, first["id"], "read")
    reply = _send(client, tenant, reply_to=first["id"])
    _wait_status(client, tenant, reply["id"], "read")
    [body] = fake_provider.state.sends_for(reply["id"])["bodies"]
    assert body["context"] == {"message_id": original["provider_message_id"]}
    assert _message(client, tenant, reply["id"])["reply_to"] == first["id"]


def test_a_permanent_error_fails_at_once_with_the_providers_code(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131026, 5)
    sent = _send(client, tenant, to=phone)
    message = _wait_status(client, tenant, sent["id"], "failed")
    assert message["error"]["code"] == "131026"
    assert message["error"]["title"]
    assert message["failed_at"]
    assert message["attempts"] == 1
    assert _sends(fake_provider, sent["id"]) == 0


def test_a_transient_error_backs_off_and_recovers(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    phone = new_phone()
    # 3 in-process tries per attempt: 5 errors need a second Dramatiq attempt.
    fake_provider.state.add_rule(phone.lstrip("+"), 131000, 5)
    sent = _send(client, tenant, to=phone)
    message = _wait_status(client, tenant, sent["id"], "read")
    assert message["attempts"] == 2
    assert message["error"] is None
    assert _sends(fake_provider, sent["id"]) == 1


def test_transient_errors_that_never_end_fail_after_the_attempt_budget(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131000, 1000)
    sent = _send(client, tenant, to=phone)
    message = _wait_status(client, tenant, sent["id"], "failed", timeout=30)
    assert message["attempts"] == container.settings.wapipe_max_attempts
    assert message["error"]["code"] == "131000"


def test_a_failed_message_retried_by_the_api_is_sent(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131026, 1)
    sent = _send(client, tenant, to=phone)
    _wait_status(client, tenant, sent["id"], "failed")
    response = client.post(f"/v1/messages/{sent['id']}/retry", headers=tenant.auth)
    assert response.status_code == 202
    message = _wait_status(client, tenant, sent["id"], "read")
    assert message["error"] is None
    assert message["failed_at"] is None
    statuses = [h["status"] for h in message["history"] if h["applied"]]
    assert statuses[:3] == ["sending", "failed", "sending"]
    assert _sends(fake_provider, sent["id"]) == 1


def test_a_message_is_claimed_by_one_deliverer_at_a_time(
    client: FlaskClient, tenant: Tenant, container: Container, fake_provider: FakeProvider
) -> None:
    """Eight deliverers race for the same message; exactly one sends it."""
    sent = _send(client, tenant)
    message_id = uuid.UUID(sent["id"])
    barrier = threading.Barrier(8)
    outcomes: list[Outcome] = []

    def race(i: int) -> None:
        deliverer = Deliverer(
            container.db, container.provider, container.queue, container.settings, f"racer-{i}"
        )
        barrier.wait()
        outcomes.append(deliverer.deliver(message_id).outcome)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count(Outcome.SENT) == 1
    assert all(o in (Outcome.SENT, Outcome.SKIPPED, Outcome.RETRY) for o in outcomes)
    assert _sends(fake_provider, sent["id"]) == 1
    with container.db.transaction() as session:
        row = session.execute(
            select(Message.attempts, Message.lease_owner).where(Message.id == message_id)
        ).one()
    assert row.attempts == 1
    assert row.lease_owner is None


def _channel(container: Container, tenant: Tenant) -> ChannelState:
    [state] = [c for c in list_channels(container.db) if c.company_id == tenant.company_id]
    return state


def test_a_rejected_token_pauses_the_channel_and_resume_sends_the_waiting_messages(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    fake_provider.add_channel(tenant.phone_number_id, "rotated-token")
    first = _send(client, tenant)
    wait_for(lambda: _channel(container, tenant).paused_at, what="the channel to pause")
    assert _channel(container, tenant).pause_code == "190"
    later = [_send(client, tenant) for _ in range(3)]
    ids = [first["id"]] + [m["id"] for m in later]
    for message_id in ids:  # nothing is failed, nothing is sent while paused
        message = _message(client, tenant, message_id)
        assert message["status"] == "sending"
        assert message["error"] is None
        assert _sends(fake_provider, message_id) == 0

    fake_provider.add_channel(tenant.phone_number_id, tenant.access_token)  # token fixed
    assert resume_channel(container.db, container.queue, tenant.company_id) == len(ids)
    for message_id in ids:
        message = _wait_status(client, tenant, message_id, "read")
        assert message["attempts"] == 1  # the halted attempt does not count against it
        assert _sends(fake_provider, message_id) == 1
    assert _channel(container, tenant).paused_at is None


def test_a_paused_channel_sends_nothing_until_resumed(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    container: Container,
) -> None:
    pause_channel(container.db, tenant.company_id, "maintenance")
    with pytest.raises(Conflict):
        pause_channel(container.db, tenant.company_id, "again")
    sent = _send(client, tenant)
    assert (
        sweep(container.db, container.queue, grace_seconds=0).messages.count(uuid.UUID(sent["id"]))
        == 0
    )
    assert _message(client, tenant, sent["id"])["status"] == "sending"
    resume_channel(container.db, container.queue, tenant.company_id)
    _wait_status(client, tenant, sent["id"], "read")
    with pytest.raises(Conflict):
        resume_channel(container.db, container.queue, tenant.company_id)


def test_the_live_api_reports_readiness(live_url: str) -> None:
    response = httpx.get(f"{live_url}/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_a_worker_that_cannot_read_the_channels_token_gives_the_message_back_unused(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    fake_provider: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker deployed with another WAPIPE_SECRET_KEY neither fails nor sends the messages
    it takes: each waits, its attempt unused, for a worker that holds the key."""
    monkeypatch.setattr(delivery, "_unreadable_logged", [float("-inf")])
    foreign = container.settings.model_copy(
        update={"wapipe_secret_key": new_key(), "whatsapp_api_base_url": "https://graph.invalid"}
    )
    wrong = Deliverer(container.db, container.provider, container.queue, foreign, "wrong-key")
    ids = [uuid.UUID(_send(client, tenant)["id"]) for _ in range(2)]
    with caplog.at_level(logging.ERROR, logger="wapipe.delivery"):
        results = [wrong.deliver(message_id) for message_id in ids]
    assert [(r.outcome, r.retry_in_ms) for r in results] == [(Outcome.RETRY, 60_000)] * 2
    lines = [r.getMessage() for r in caplog.records if r.name == "wapipe.delivery"]
    assert len(lines) == 1  # once for the burst, not once per message
    assert "cannot decrypt a channel's access token" in lines[0]
    assert tenant.access_token not in caplog.text
    with container.db.transaction() as session:
        rows = session.execute(
            select(Message.status, Message.attempts, Message.lease_owner, Message.error_code)
            .where(Message.id.in_(ids))
        ).all()  # fmt: skip
        tried = session.scalar(select(func.count()).where(DeliveryAttempt.message_id.in_(ids)))
    assert {tuple(r) for r in rows} == {("sending", 0, "backoff", None)}
    assert tried == 0
    assert all(_sends(fake_provider, str(i)) == 0 for i in ids)

    with container.db.transaction() as session:  # the wait is over
        session.execute(
            update(Message).where(Message.id.in_(ids)).values(lease_expires_at=func.now())
        )
    right = Deliverer(
        container.db, container.provider, container.queue, container.settings, "right-key"
    )
    assert [right.deliver(i).outcome for i in ids] == [Outcome.SENT] * 2
    assert all(_sends(fake_provider, str(i)) == 1 for i in ids)
