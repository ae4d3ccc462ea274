"""`wapipe webhooks replay`: stored deliveries applied again, a no-op when repeated."""

import uuid

from flask.testing import FlaskClient
from sqlalchemy import select

from db.models import MessageStatusEvent, WebhookDelivery
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe
from tests.conftest import APP_SECRET, Tenant
from tests.support import send_message, signed_headers, status, status_body
from webhooks.service import process_webhook

T0 = 1_763_800_000


def _store(client: FlaskClient, tenant: Tenant, message_id: str, state: str, ts: int) -> int:
    """A signed delivery stored in the inbox; no worker runs here, so it is not processed."""
    wamid = f"wamid.{uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex}"
    body = status_body(tenant.phone_number_id, [status(wamid, state, ts, biz=message_id)])
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 200
    delivery_id: int = response.get_json()["received"]
    return delivery_id


def _history(container: Container, message_id: str) -> list[tuple[str, bool]]:
    with container.db.transaction() as session:
        rows = session.execute(
            select(MessageStatusEvent.status, MessageStatusEvent.applied)
            .where(MessageStatusEvent.message_id == uuid.UUID(message_id))
            .order_by(MessageStatusEvent.id)
        ).all()
    return [(r.status, r.applied) for r in rows]


def test_replay_by_id_applies_a_stored_delivery_and_marks_it_processed(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = send_message(client, tenant)
    delivery_id = _store(client, tenant, message_id, "delivered", T0)
    output = wapipe("webhooks", "replay", "--id", str(delivery_id), "--reason", "stuck").output
    assert "1 stored delivery(ies), 1 not processed yet" in output
    assert wapipe.json("messages", "show", message_id)["status"] == "delivered"
    with container.db.transaction() as session:
        processed = session.scalar(
            select(WebhookDelivery.processed_at).where(WebhookDelivery.id == delivery_id)
        )
    assert processed is not None
    assert not process_webhook(container.db, delivery_id)  # its own job now skips it
    [action] = wapipe.json("audit", "--action", "webhooks.replay", "--limit", "1")
    assert (action["reason"], action["details"]["ids"]) == ("stuck", [delivery_id])


def test_replaying_a_processed_delivery_again_changes_nothing(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = send_message(client, tenant)
    read = _store(client, tenant, message_id, "read", T0 + 2)
    delivered = _store(client, tenant, message_id, "delivered", T0 + 1)
    wapipe("webhooks", "replay", "--id", str(read), "--id", str(delivered), "--yes")
    before = wapipe.json("messages", "show", message_id)
    wapipe("webhooks", "replay", "--id", str(delivered), "--id", str(read), "--yes")
    after = wapipe.json("messages", "show", message_id)
    assert after["status"] == before["status"] == "read"
    assert (after["delivered_at"], after["read_at"]) == (before["delivered_at"], before["read_at"])
    assert sorted(_history(container, message_id)[-2:]) == [("delivered", False), ("read", False)]


def test_replay_since_a_time_asks_before_replaying_several(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant
) -> None:
    ids = [send_message(client, tenant) for _ in range(2)]
    for message_id in ids:
        _store(client, tenant, message_id, "sent", T0)
    refused = wapipe("webhooks", "replay", "--since", "10s", input="n\n", code=1)
    assert "Replay" in refused.output
    assert all(wapipe.json("messages", "show", m)["status"] == "sending" for m in ids)
    result = wapipe.json("webhooks", "replay", "--since", "10s", "--yes")
    assert result["replayed"] >= 2
    assert all(wapipe.json("messages", "show", m)["status"] == "sent" for m in ids)


def test_replay_needs_exactly_one_of_id_or_since(wapipe: Wapipe) -> None:
    wapipe("webhooks", "replay", code=2)
    wapipe("webhooks", "replay", "--id", "1", "--since", "1h", code=2)


def test_replay_of_an_unknown_delivery_fails_in_one_line(wapipe: Wapipe) -> None:
    result = wapipe("webhooks", "replay", "--id", "999999999", code=1)
    assert result.output.strip() == "Error: no webhook delivery 999999999 (nothing was replayed)"
