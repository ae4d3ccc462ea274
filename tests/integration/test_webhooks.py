"""Webhook intake and the status rules, on real PostgreSQL."""

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from db.models import Conversation, Message, PendingStatus, WebhookDelivery
from pipeline.bootstrap import Container
from pipeline.services.delivery import Claim, Deliverer
from pipeline.services.sweeper import sweep
from tests.conftest import APP_SECRET, VERIFY_TOKEN, Tenant
from tests.support import PAYLOADS, new_phone, signed_headers, status, status_body
from webhooks.apply import apply_parked_known
from webhooks.service import process_webhook

T0 = 1_763_800_000


def _stored(container: Container, body: bytes) -> int:
    """How many inbox rows hold exactly ``body`` (the fake provider posts concurrently)."""
    with container.db.transaction() as session:
        query = select(func.count()).where(WebhookDelivery.raw_body == body)
        return int(session.scalar(query) or 0)


def _post(client: FlaskClient, body: bytes) -> int:
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 200, response.get_json()
    delivery_id: int = response.get_json()["received"]
    return delivery_id


def _deliver(client: FlaskClient, container: Container, body: bytes) -> None:
    assert process_webhook(container.db, _post(client, body))


def _new_message(client: FlaskClient, tenant: Tenant) -> str:
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "x"}, headers=tenant.auth
    )
    message_id: str = response.get_json()["id"]
    return message_id


def _message(client: FlaskClient, tenant: Tenant, message_id: str) -> dict[str, Any]:
    result: dict[str, Any] = client.get(
        f"/v1/messages/{message_id}", headers=tenant.auth
    ).get_json()
    return result


def test_handshake_echoes_the_challenge_only_for_the_right_token(client: FlaskClient) -> None:
    ok = client.get(
        "/webhooks/whatsapp",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "42",
        },
    )
    assert ok.status_code == 200
    assert ok.data == b"42"
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
    ):
        refused = client.get("/webhooks/whatsapp", query_string=params)
        assert refused.status_code == 403
        assert refused.get_json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("signature", [None, "sha256=00", "sha256=" + "a" * 64, "garbage"])
def test_a_missing_or_wrong_signature_is_401_and_nothing_is_stored(
    client: FlaskClient, container: Container, signature: str | None
) -> None:
    body = (PAYLOADS / "status_sent.json").read_bytes()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = client.post("/webhooks/whatsapp", data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert _stored(container, body) == 0


def test_a_signature_over_other_bytes_is_refused(client: FlaskClient, container: Container) -> None:
    body = (PAYLOADS / "status_sent.json").read_bytes()
    headers = signed_headers(APP_SECRET, body + b" ")
    assert client.post("/webhooks/whatsapp", data=body, headers=headers).status_code == 401
    assert _stored(container, body) == 0


def test_a_non_ascii_signature_is_401_not_an_error(client: FlaskClient) -> None:
    body = status_body("1", [])
    response = client.post(
        "/webhooks/whatsapp",
        data=body,
        headers={"X-Hub-Signature-256": "sha256=\u00e9" * 8, "Content-Type": "application/json"},
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_a_body_over_the_limit_is_413_and_closes_the_connection(
    client: FlaskClient, container: Container
) -> None:
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # Its body was left unread, so a kept-alive connection could not carry another request.
    assert response.headers["Connection"] == "close"
    assert _stored(container, body) == 0


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"object": 1, "entry": "x"}'])
def test_a_signed_body_that_is_not_the_expected_json_is_400(
    client: FlaskClient, container: Container, body: bytes
) -> None:
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "VALIDATION_ERROR"
    assert _stored(container, body) == 0


ORDERS = list(itertools.permutations(["sent", "delivered", "read"]))


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("batched", [False, True])
def test_statuses_in_any_order_reach_read_with_every_timestamp(
    client: FlaskClient, tenant: Tenant, container: Container, order: tuple[str, ...], batched: bool
) -> None:
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    ts = {"sent": T0, "delivered": T0 + 2, "read": T0 + 30}
    items = [status(wamid, s, ts[s], biz=message_id) for s in order]
    bodies = (
        [status_body(tenant.phone_number_id, items)]
        if batched
        else [status_body(tenant.phone_number_id, [item]) for item in items]
    )
    for body in bodies:
        _deliver(client, container, body)
    message = _message(client, tenant, message_id)
    assert message["status"] == "read"
    assert message["provider_message_id"] == wamid
    for name, value in ts.items():
        assert message[f"{name}_at"] == datetime.fromtimestamp(value, UTC).isoformat()
    webhook_history = [h for h in message["history"] if h["source"] == "webhook"]
    assert len(webhook_history) == 3


def test_duplicates_and_late_lower_statuses_are_recorded_but_change_nothing(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    read = status_body(tenant.phone_number_id, [status(wamid, "read", T0 + 9, biz=message_id)])
    late = status_body(
        tenant.phone_number_id,
        [
            status(wamid, "delivered", T0 + 5, biz=message_id),
            status(wamid, "sent", T0, biz=message_id),
        ],
    )
    for body in (read, read, late, late):
        _deliver(client, container, body)
    message = _message(client, tenant, message_id)
    assert message["status"] == "read"
    webhook_history = [(h["status"], h["applied"]) for h in message["history"][1:]]
    assert webhook_history.count(("read", True)) == 1
    assert ("read", False) in webhook_history
    assert ("delivered", False) in webhook_history
    assert ("sent", False) in webhook_history
    assert message["delivered_at"] is not None


def test_a_failure_after_sent_fails_and_a_later_delivered_recovers(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    failed = status(
        wamid,
        "failed",
        T0 + 1,
        biz=message_id,
        errors=[{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "d"}}],
    )
    _deliver(
        client,
        container,
        status_body(tenant.phone_number_id, [status(wamid, "sent", T0, biz=message_id)]),
    )
    _deliver(client, container, status_body(tenant.phone_number_id, [failed]))
    message = _message(client, tenant, message_id)
    assert message["status"] == "failed"
    assert message["error"] == {"code": "131026", "title": "Message undeliverable", "details": "d"}
    _deliver(
        client,
        container,
        status_body(tenant.phone_number_id, [status(wamid, "delivered", T0 + 3, biz=message_id)]),
    )
    assert _message(client, tenant, message_id)["status"] == "delivered"


def test_a_status_for_an_unknown_wamid_is_kept_and_applied_once_the_worker_records_it(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    # No biz_opaque_callback_data: only the wamid can match it, and it is not recorded yet.
    _deliver(
        client, container, status_body(tenant.phone_number_id, [status(wamid, "read", T0 + 5)])
    )
    assert _message(client, tenant, message_id)["status"] == "sending"
    with container.db.transaction() as session:
        parked = session.scalar(
            select(func.count())
            .select_from(PendingStatus)
            .where(PendingStatus.provider_message_id == wamid)
        )
    assert parked == 1

    deliverer = Deliverer(
        container.db, container.provider, container.queue, container.settings, "test"
    )
    with container.db.transaction() as session:
        row = session.execute(
            select(Message.company_id, Message.conversation_id, Message.to_phone).where(
                Message.id == uuid.UUID(message_id)
            )
        ).one()
    claim = Claim(
        uuid.UUID(message_id), row.company_id, row.conversation_id, row.to_phone, "x", 1, "", ""
    )
    deliverer._record_sent(claim, wamid)

    message = _message(client, tenant, message_id)
    assert message["status"] == "read"
    assert message["read_at"] == datetime.fromtimestamp(T0 + 5, UTC).isoformat()
    with container.db.transaction() as session:
        left = session.scalar(
            select(func.count())
            .select_from(PendingStatus)
            .where(PendingStatus.provider_message_id == wamid)
        )
    assert left == 0


def _park(container: Container, tenant: Tenant, wamid: str, state: str) -> None:
    """A status as the applier parks it when it cannot match its wamid yet."""
    with container.db.transaction() as session:
        session.add(
            PendingStatus(
                provider_message_id=wamid,
                company_id=tenant.company_id,
                phone_number_id=tenant.phone_number_id,
                payload=status(wamid, state, T0 + 5),
            )
        )


def _parked(container: Container, wamid: str) -> int:
    with container.db.transaction() as session:
        query = select(func.count()).where(PendingStatus.provider_message_id == wamid)
        return int(session.scalar(query) or 0)


def _record_wamid(container: Container, message_id: str, wamid: str) -> None:
    """The worker's commit of a wamid, without its own look for parked statuses."""
    with container.db.transaction() as session:
        session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(message_id))
            .values(provider_message_id=wamid, status="sent")
        )


def _parked_after_the_record(
    client: FlaskClient, tenant: Tenant, container: Container, state: str
) -> tuple[str, str]:
    """The race no lock is shared against: the worker commits the wamid and finds nothing
    parked; the applier, which looked before that commit, parks a status after it."""
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    _record_wamid(container, message_id, wamid)
    _park(container, tenant, wamid, state)
    return message_id, wamid


def test_a_status_parked_as_the_worker_records_its_wamid_is_applied_by_the_recheck(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id, wamid = _parked_after_the_record(client, tenant, container, "delivered")
    apply_parked_known(container.db, [wamid])  # what the applier does after its commit
    message = _message(client, tenant, message_id)
    assert message["status"] == "delivered"
    assert [h["status"] for h in message["history"] if h["source"] == "webhook"] == ["delivered"]
    with container.db.transaction() as session:
        assert (
            session.scalar(select(func.count()).where(PendingStatus.provider_message_id == wamid))
            == 0
        )


def test_a_parked_status_is_never_applied_to_another_companys_message(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, container: Container
) -> None:
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    _park(container, other_tenant, wamid, "read")
    _record_wamid(container, message_id, wamid)
    apply_parked_known(container.db, [wamid])
    assert _message(client, tenant, message_id)["status"] == "sent"
    with container.db.transaction() as session:
        assert (
            session.scalar(select(func.count()).where(PendingStatus.provider_message_id == wamid))
            == 1
        )


def test_a_status_naming_another_companys_message_is_not_applied_to_it(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, container: Container
) -> None:
    message_id = _new_message(client, tenant)
    body = status_body(
        other_tenant.phone_number_id,
        [status(f"wamid.{uuid.uuid4().hex}", "read", T0, biz=message_id)],
    )
    _deliver(client, container, body)
    message = _message(client, tenant, message_id)
    assert message["status"] == "sending"
    assert message["provider_message_id"] is None


def test_a_delivery_is_processed_once_even_if_its_job_runs_twice(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = _new_message(client, tenant)
    body = status_body(
        tenant.phone_number_id, [status("wamid.once" + message_id, "sent", T0, biz=message_id)]
    )
    delivery_id = _post(client, body)
    assert process_webhook(container.db, delivery_id) is True
    assert process_webhook(container.db, delivery_id) is False
    history = _message(client, tenant, message_id)["history"]
    assert len([h for h in history if h["source"] == "webhook"]) == 1


def test_inbound_messages_are_stored_once_and_raise_unread(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    phone = new_phone()
    inbound = {
        "from": phone.lstrip("+"),
        "id": wamid,
        "timestamp": str(T0),
        "type": "text",
        "text": {"body": "Hi, is my order on its way?"},
    }
    body = status_body(tenant.phone_number_id, [], messages=[inbound])
    _deliver(client, container, body)
    _deliver(client, container, body)
    with container.db.transaction() as session:
        rows = session.execute(
            select(Message.direction, Message.text, Conversation.unread_count)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.provider_message_id == wamid)
        ).all()
    assert len(rows) == 1
    assert rows[0].direction == "inbound"
    assert rows[0].text == "Hi, is my order on its way?"
    assert rows[0].unread_count == 1


def test_a_status_parked_before_the_send_is_recorded_is_applied_by_the_record(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    # The webhook overtook the worker: its status waits under the wamid, and the record of
    # the send (through its lease, the usual path) finds and applies it.
    message_id = _new_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    _park(container, tenant, wamid, "delivered")
    deliverer = Deliverer(
        container.db, container.provider, container.queue, container.settings, "test"
    )
    claim = deliverer._claim(uuid.UUID(message_id))
    assert claim is not None
    deliverer._record_sent(claim, wamid)
    message = _message(client, tenant, message_id)
    assert message["status"] == "delivered"
    assert [h["source"] for h in message["history"] if h["status"] == "sent"] == ["worker"]
    assert _parked(container, wamid) == 0


def test_a_status_parked_while_the_worker_recorded_its_wamid_is_applied_by_the_sweep(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    # Both looks missed it: the record's snapshot predates the park, and the applier looked
    # before the record committed. The sweep finds it.
    message_id, wamid = _parked_after_the_record(client, tenant, container, "read")
    report = sweep(container.db, container.queue, grace_seconds=3600)
    assert report.parked == 1
    assert _message(client, tenant, message_id)["status"] == "read"
    assert _parked(container, wamid) == 0
