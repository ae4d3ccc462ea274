"""A retry starts a new attempt: a late status of the first attempt cannot move the message,
the history keeps the first failure whole, and attempt numbers go on counting."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import select, text

from db.models import DeliveryAttempt, MessageStatusEvent
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe, flat
from tests.conftest import APP_SECRET, Tenant
from tests.support import send_message, signed_headers, status, status_body, wait_for
from webhooks.service import process_webhook

T0 = 1_763_800_000


@pytest.fixture
def provider(fake_provider: FakeProvider) -> Iterator[FakeProvider]:
    """The fake provider, its config restored after the test."""
    yield fake_provider
    fake_provider.state.patch_config({"fail_rate": 0.0, "send_statuses": True})


def _message(client: FlaskClient, tenant: Tenant, message_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/messages/{message_id}", headers=tenant.auth).get_json()
    return body


def _in_status(client: FlaskClient, tenant: Tenant, message_id: str, status: str) -> Any:
    message = _message(client, tenant, message_id)
    return message if message["status"] == status else None


def _failed_delivery(container: Container, wamid: str) -> int:
    """The stored webhook delivery that reported ``wamid`` failed."""
    with container.db.transaction() as session:
        found = session.scalar(
            text(
                "SELECT id FROM webhook_inbox WHERE position(CAST(:wamid AS bytea) IN raw_body) > 0"
                " AND position(CAST('\"failed\"' AS bytea) IN raw_body) > 0 ORDER BY id LIMIT 1"
            ),
            {"wamid": wamid.encode()},
        )
    assert found is not None
    return int(found)


def _attempt_numbers(container: Container, message_id: str) -> list[int]:
    with container.db.transaction() as session:
        return list(
            session.scalars(
                select(DeliveryAttempt.attempt)
                .where(DeliveryAttempt.message_id == uuid.UUID(message_id))
                .order_by(DeliveryAttempt.id)
            )
        )


def test_a_late_failed_of_the_first_attempt_replayed_after_the_retry_was_sent_changes_nothing(
    client: FlaskClient,
    tenant: Tenant,
    container: Container,
    worker: Worker,
    provider: FakeProvider,
    wapipe: Wapipe,
) -> None:
    # The first attempt is accepted (a wamid) and then reported failed by webhook.
    provider.state.patch_config({"fail_rate": 1.0})
    message_id = send_message(client, tenant)
    first = wait_for(lambda: _in_status(client, tenant, message_id, "failed"), what="failed")
    assert first["provider_message_id"] is not None
    assert first["sent_at"] is not None
    # The retried attempt is accepted but its own statuses do not arrive: it stays `sent`.
    provider.state.patch_config({"fail_rate": 0.0, "send_statuses": False})
    assert client.post(f"/v1/messages/{message_id}/retry", headers=tenant.auth).status_code == 202
    second = wait_for(lambda: _in_status(client, tenant, message_id, "sent"), what="sent")
    assert second["provider_message_id"] not in (None, first["provider_message_id"])
    assert second["error"] is None
    assert second["failed_at"] is None

    wapipe(
        "webhooks",
        "replay",
        "--id",
        str(_failed_delivery(container, first["provider_message_id"])),
        "--reason",
        "late status",
    )

    after = _message(client, tenant, message_id)
    assert after["status"] == "sent"
    assert after["provider_message_id"] == second["provider_message_id"]
    assert after["error"] is None
    assert after["history"][-1] | {"at": None} == {
        "status": "failed",
        "source": "webhook",
        "applied": False,
        "at": None,
    }
    # Attempt numbers go on counting across the retry.
    assert _attempt_numbers(container, message_id) == [1, 2]
    story = wapipe.json("messages", "show", message_id)
    assert story["attempts_total"] == 2
    [earlier] = story["earlier_rounds"]
    assert earlier["provider_message_id"] == first["provider_message_id"]
    assert earlier["sent_at"] is not None
    assert earlier["failed_at"] is not None
    assert (earlier["error_code"], earlier["error_title"]) == (
        first["error"]["code"],
        first["error"]["title"],
    )
    shown = flat(wapipe("messages", "show", message_id).output)
    assert "2, 1 since the last retry" in shown
    assert first["error"]["code"] in shown


def test_a_status_carrying_our_id_with_another_wamid_is_recorded_but_not_applied(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = send_message(client, tenant)
    ours, stranger = f"wamid.{uuid.uuid4().hex}", f"wamid.{uuid.uuid4().hex}"
    for wamid, state, ts in ((ours, "sent", T0), (stranger, "failed", T0 + 1)):
        body = status_body(tenant.phone_number_id, [status(wamid, state, ts, biz=message_id)])
        response = client.post(
            "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
        )
        assert process_webhook(container.db, response.get_json()["received"])
    message = _message(client, tenant, message_id)
    assert (message["status"], message["provider_message_id"]) == ("sent", ours)
    with container.db.transaction() as session:
        failed = session.execute(
            select(MessageStatusEvent.applied, MessageStatusEvent.detail).where(
                MessageStatusEvent.message_id == uuid.UUID(message_id),
                MessageStatusEvent.status == "failed",
            )
        ).one()
    assert failed.applied is False
    assert failed.detail["wamid"] == stranger


def test_the_history_keeps_every_failures_code_title_details_and_fbtrace(
    client: FlaskClient, tenant: Tenant, container: Container, wapipe: Wapipe
) -> None:
    message_id = send_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "error_data": {"details": "the recipient is not on WhatsApp"},
    }
    for state, ts, extra in (("sent", T0, {}), ("failed", T0 + 1, {"errors": [error]})):
        body = status_body(
            tenant.phone_number_id, [status(wamid, state, ts, biz=message_id, **extra)]
        )
        response = client.post(
            "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
        )
        assert process_webhook(container.db, response.get_json()["received"])
    assert client.post(f"/v1/messages/{message_id}/retry", headers=tenant.auth).status_code == 202
    story = wapipe.json("messages", "show", message_id)
    assert story["error"] is None
    [failure] = [h for h in story["history"] if h["status"] == "failed"]
    assert failure["detail"]["error"] == {
        "code": "131026",
        "title": "Message undeliverable",
        "details": "the recipient is not on WhatsApp",
        "fbtrace_id": None,
    }
    [earlier] = story["earlier_rounds"]
    assert earlier["error_details"] == "the recipient is not on WhatsApp"
    assert earlier["provider_message_id"] == wamid
