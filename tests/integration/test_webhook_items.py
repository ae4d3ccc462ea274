"""A webhook delivery's items are applied independently; a delivery that keeps failing is
quarantined; deliveries are capped; unknown wamids cost no lock each. Real PostgreSQL."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from db.models import Message, PendingStatus, WebhookDelivery
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe, flat
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
from webhooks.applier import WebhookApplier
from webhooks.apply import ProviderStatus, apply_parked_known, apply_provider_statuses
from webhooks.payloads import StatusItem
from webhooks.service import MAX_ITEMS, MAX_TRIES

T0 = 1_763_800_000


def _post(client: FlaskClient, body: bytes) -> int:
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 200, response.get_json()
    delivery_id: int = response.get_json()["received"]
    return delivery_id


def _drain(container: Container, rounds: int = 50) -> int:
    """Run the applier until the inbox is empty; how many rounds it took."""
    applier = WebhookApplier(container.db)
    for done in range(1, rounds + 1):
        if not applier.apply_once():
            return done
    raise AssertionError(f"the inbox was not empty after {rounds} rounds")


def _delivery(container: Container, delivery_id: int) -> Any:
    with container.db.transaction() as session:
        return session.execute(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
        ).scalar_one()


def _inbound(wamid: str, sender: str, body: str = "hello") -> dict[str, Any]:
    return {
        "from": sender,
        "id": wamid,
        "timestamp": str(T0),
        "type": "text",
        "text": {"body": body},
    }


def _stored_inbound(container: Container, wamid: str) -> int:
    with container.db.transaction() as session:
        return len(
            session.scalars(select(Message.id).where(Message.provider_message_id == wamid)).all()
        )


def test_a_bad_item_is_recorded_and_skipped_and_the_rest_of_its_delivery_applied(
    client: FlaskClient, tenant: Tenant, container: Container, wapipe: Wapipe
) -> None:
    message_id = send_message(client, tenant)
    good_inbound, bad_inbound = f"wamid.{uuid.uuid4().hex}", f"wamid.{uuid.uuid4().hex}"
    # A sender longer than the phone column: the right shape, but its insert fails, which
    # used to roll back every status of the delivery and skip all of it.
    body = status_body(
        tenant.phone_number_id,
        [status(f"wamid.{uuid.uuid4().hex}", "read", T0, biz=message_id)],
        messages=[
            _inbound(bad_inbound, "1" * 25),
            _inbound(good_inbound, new_phone().lstrip("+")),
        ],
    )
    other_message = send_message(client, tenant)
    other = status_body(
        tenant.phone_number_id,
        [status(f"wamid.{uuid.uuid4().hex}", "delivered", T0, biz=other_message)],
    )
    delivery_id, other_id = _post(client, body), _post(client, other)

    _drain(container)

    assert status_of(container, message_id) == "read"
    assert status_of(container, other_message) == "delivered"
    assert _stored_inbound(container, good_inbound) == 1
    assert _stored_inbound(container, bad_inbound) == 0
    delivery = _delivery(container, delivery_id)
    assert delivery.processed_at is not None
    assert delivery.quarantined_at is None
    [skipped] = delivery.item_errors
    assert (skipped["kind"], skipped["id"]) == ("message", bad_inbound)
    assert skipped["error"].startswith("DataError")
    assert "1" * 25 not in skipped["error"]  # the reason, not the statement's parameters
    assert _delivery(container, other_id).item_errors is None

    listed = wapipe.json("webhooks", "list", "--failed")
    [shown] = [d for d in listed if d["id"] == delivery_id]
    assert shown["state"] == "applied"
    assert shown["item_errors"] == [skipped]


def test_a_status_for_a_number_no_company_has_is_recorded_as_a_skipped_item(
    client: FlaskClient, container: Container
) -> None:
    wamid = f"wamid.{uuid.uuid4().hex}"
    delivery_id = _post(
        client, status_body("999" + uuid.uuid4().hex[:12], [status(wamid, "sent", T0)])
    )
    _drain(container)
    [skipped] = _delivery(container, delivery_id).item_errors
    assert (skipped["kind"], skipped["id"]) == ("status", wamid)
    assert "no channel has phone_number_id" in skipped["error"]


class Poison:
    """Deliveries whose application fails as a whole: a trigger refuses to mark them
    processed (but lets them be quarantined), as a resource exhausted by their content
    would. Real PostgreSQL, no stand-in for our code."""

    def __init__(self, container: Container) -> None:
        self.db = container.db
        self.table = f"poisoned_{uuid.uuid4().hex[:8]}"
        with self.db.transaction() as session:
            session.execute(text(f"CREATE TABLE {self.table} (id bigint PRIMARY KEY)"))
            session.execute(
                text(f"""
                CREATE FUNCTION {self.table}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.processed_at IS NOT NULL AND NEW.quarantined_at IS NULL
                       AND EXISTS (SELECT 1 FROM {self.table} WHERE id = NEW.id) THEN
                        RAISE EXCEPTION 'cannot apply delivery %', NEW.id;
                    END IF;
                    RETURN NEW;
                END $$""")
            )
            session.execute(
                text(
                    f"CREATE TRIGGER {self.table} BEFORE UPDATE ON webhook_inbox "
                    f"FOR EACH ROW EXECUTE FUNCTION {self.table}()"
                )
            )

    def add(self, delivery_id: int) -> None:
        with self.db.transaction() as session:
            session.execute(text(f"INSERT INTO {self.table} VALUES (:id)"), {"id": delivery_id})

    def cure(self) -> None:
        with self.db.transaction() as session:
            session.execute(text(f"DROP TRIGGER IF EXISTS {self.table} ON webhook_inbox"))

    def drop(self) -> None:
        self.cure()
        with self.db.transaction() as session:
            session.execute(text(f"DROP FUNCTION {self.table}() CASCADE"))
            session.execute(text(f"DROP TABLE {self.table}"))


@pytest.fixture
def poison(container: Container) -> Iterator[Poison]:
    poison = Poison(container)
    yield poison
    poison.drop()


def test_a_delivery_that_keeps_failing_is_quarantined_after_bounded_tries_and_replayable(
    client: FlaskClient, tenant: Tenant, container: Container, wapipe: Wapipe, poison: Poison
) -> None:
    message_id, other_message = send_message(client, tenant), send_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    body = status_body(tenant.phone_number_id, [status(wamid, "delivered", T0, biz=message_id)])
    delivery_id = _post(client, body)
    poison.add(delivery_id)
    other = status_body(
        tenant.phone_number_id,
        [status(f"wamid.{uuid.uuid4().hex}", "read", T0, biz=other_message)],
    )
    other_id = _post(client, other)
    applier = WebhookApplier(container.db, try_backoff_s=0.2)

    applier.apply_once()
    assert status_of(container, other_message) == "read"  # held back nothing else
    assert _delivery(container, delivery_id).tries == 1
    applier.apply_once()
    assert _delivery(container, delivery_id).tries == 1  # the next try waits: no burst
    wait_for(
        lambda: applier.apply_once() >= 0 and _delivery(container, delivery_id).quarantined_at,
        what="the delivery to be quarantined",
    )

    assert _delivery(container, other_id).quarantined_at is None
    delivery = _delivery(container, delivery_id)
    assert delivery.tries == MAX_TRIES  # bounded: it is not retried forever
    assert delivery.processed_at is not None
    assert "cannot apply delivery" in delivery.error
    assert status_of(container, message_id) == "sending"  # its try was rolled back whole

    listing = flat(wapipe("webhooks", "list", "--failed").output)
    assert f"{delivery_id} " in listing
    assert "quarantined" in listing

    poison.cure()
    wapipe("webhooks", "replay", "--id", str(delivery_id), "--reason", "fixed")
    assert status_of(container, message_id) == "delivered"
    replayed = _delivery(container, delivery_id)
    assert replayed.quarantined_at is None
    assert replayed.error is None


def test_a_delivery_over_the_item_cap_is_refused_with_a_stable_code(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    def body(items: int) -> bytes:
        return status_body(
            tenant.phone_number_id,
            [status(f"wamid.cap{uuid.uuid4().hex}", "sent", T0) for _ in range(items)],
        )

    over = body(MAX_ITEMS + 1)
    response = client.post(
        "/webhooks/whatsapp", data=over, headers=signed_headers(APP_SECRET, over)
    )
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "TOO_MANY_ITEMS"
    assert error["details"] == {"items": MAX_ITEMS + 1, "max_items": MAX_ITEMS}
    with container.db.transaction() as session:
        stored = session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.raw_body == over))
    assert stored is None
    _post(client, body(MAX_ITEMS))


def test_statuses_for_unknown_wamids_take_no_lock_each(
    container: Container, tenant: Tenant
) -> None:
    statuses = [
        ProviderStatus(
            tenant.company_id,
            tenant.phone_number_id,
            StatusItem.model_validate(status(f"wamid.unknown{n}.{uuid.uuid4().hex}", "sent", T0)),
            None,
        )
        for n in range(MAX_ITEMS)
    ]
    with container.db.transaction() as session:
        parked = apply_provider_statuses(session, statuses)
        locks = session.execute(
            text(
                "SELECT locktype, count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                "GROUP BY locktype"
            )
        ).all()
        session.rollback()
    assert len(parked) == MAX_ITEMS
    held: dict[str, int] = {locktype: int(n) for locktype, n in locks}
    assert "advisory" not in held
    # Relation and transaction locks only: a handful, however many statuses.
    assert sum(held.values()) < 50


def test_a_parked_status_carries_its_company_and_applies_only_to_it(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, container: Container
) -> None:
    message_id = send_message(client, tenant)
    wamid = f"wamid.{uuid.uuid4().hex}"
    # Arrives under the other company's number before any message has the wamid: parked.
    _post(client, status_body(other_tenant.phone_number_id, [status(wamid, "read", T0)]))
    _drain(container)
    with container.db.transaction() as session:
        [company] = session.scalars(
            select(PendingStatus.company_id).where(PendingStatus.provider_message_id == wamid)
        ).all()
        # The wamid is then recorded for this company's message, and the look for parked
        # statuses runs: the other company's status is not this message's.
        session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(message_id))
            .values(provider_message_id=wamid, status="sent")
        )
    apply_parked_known(container.db, [wamid])
    assert company == other_tenant.company_id
    assert status_of(container, message_id) == "sent"
