"""Templates (issue 9): synced from the provider with paging, listed, checked at intake
against the stored template, kept current by status webhooks, and retried as they were."""

import json
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from db.models import Message, Template
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe
from tests.conftest import APP_SECRET, Tenant, make_tenant
from tests.support import new_phone, signed_headers, wait_for

ORDER_UPDATE = {
    "name": "order_update",
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} has shipped."},
        {"type": "FOOTER", "text": "Shop"},
    ],
}
REMINDER = {
    "name": "appointment_reminder",
    "language": "de",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Termin am {{1}}"}],
}
PENDING = {**REMINDER, "name": "new_offer", "status": "PENDING"}


@pytest.fixture
def shop(container: Container, fake_provider: FakeProvider) -> Tenant:
    """A tenant whose channel names its business account (the fake's WABA id is the number's
    id), with a small catalogue at the fake, synced."""
    tenant = make_tenant(container, fake_provider)
    with container.db.transaction() as session:
        session.execute(
            text("UPDATE channels SET waba_id = phone_number_id WHERE company_id = :c"),
            {"c": tenant.company_id},
        )
    fake_provider.state.content.put_templates(
        tenant.phone_number_id, [ORDER_UPDATE, REMINDER, PENDING]
    )
    return tenant


def _params(*values: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": v} for v in values]


def _order_update(*body: str, header: bool = True) -> dict[str, Any]:
    components: list[dict[str, Any]] = [{"type": "body", "parameters": _params(*body)}]
    if header:
        image = {"type": "image", "image": {"link": "https://example.com/p.jpg"}}
        components.insert(0, {"type": "header", "parameters": [image]})
    return {"name": "order_update", "language": {"code": "en_US"}, "components": components}


def _send(client: FlaskClient, tenant: Tenant, template: dict[str, Any]) -> Any:
    body = {"to": new_phone(), "type": "template", "template": template}
    return client.post("/v1/messages", json=body, headers=tenant.auth)


def test_sync_reads_every_page_and_stores_the_templates(
    wapipe: Wapipe, shop: Tenant, fake_provider: FakeProvider, client: FlaskClient
) -> None:
    many = [{**REMINDER, "name": f"promo_{i:03d}"} for i in range(230)]
    fake_provider.state.content.put_templates(shop.phone_number_id, [ORDER_UPDATE, *many])
    report = wapipe.json("templates", "sync", "--company", str(shop.company_id), "--json")
    assert report["templates"] == 231  # three pages of at most 100
    assert report["changed"] == 231
    again = wapipe.json("templates", "sync", "--company", str(shop.company_id), "--json")
    assert again["changed"] == 0  # nothing changed: nothing written
    listed = client.get("/v1/templates?name=order_update", headers=shop.auth).get_json()["items"]
    assert [(t["name"], t["language"], t["status"]) for t in listed] == [
        ("order_update", "en_US", "APPROVED")
    ]
    assert listed[0]["components"] == ORDER_UPDATE["components"]
    assert (
        len(client.get("/v1/templates?status=APPROVED", headers=shop.auth).get_json()["items"])
        == 231
    )


def test_a_template_deleted_at_meta_goes_with_the_next_sync(
    wapipe: Wapipe, shop: Tenant, fake_provider: FakeProvider, client: FlaskClient
) -> None:
    wapipe("templates", "sync", "--company", str(shop.company_id))
    fake_provider.state.content.put_templates(shop.phone_number_id, [ORDER_UPDATE])
    report = wapipe.json("templates", "sync", "--company", str(shop.company_id), "--json")
    assert report["removed"] == 2
    names = [t["name"] for t in client.get("/v1/templates", headers=shop.auth).get_json()["items"]]
    assert names == ["order_update"]


def test_templates_are_listed_only_to_their_company(
    wapipe: Wapipe, shop: Tenant, other_tenant: Tenant, client: FlaskClient
) -> None:
    wapipe("templates", "sync", "--company", str(shop.company_id))
    assert client.get("/v1/templates", headers=other_tenant.auth).get_json()["items"] == []
    response = client.get("/v1/templates?status=BOGUS", headers=shop.auth)
    assert response.status_code == 400


def test_a_template_message_goes_out_as_synced_and_reaches_read(
    wapipe: Wapipe, shop: Tenant, client: FlaskClient, worker: Worker, fake_provider: FakeProvider
) -> None:
    wapipe("templates", "sync", "--company", str(shop.company_id))
    template = _order_update("Ada", "#42")
    response = _send(client, shop, template)
    assert response.status_code == 202, response.get_json()
    message_id = response.get_json()["id"]

    def read() -> bool:
        shown = client.get(f"/v1/messages/{message_id}", headers=shop.auth).get_json()
        return bool(shown["status"] == "read")

    wait_for(read, what="template message read")
    [sent] = fake_provider.state.sends_for(message_id)["bodies"]
    assert sent["type"] == "template"
    assert sent["template"] == template


REFUSALS = [
    ({"name": "no_such", "language": {"code": "en_US"}}, "no template 'no_such'"),
    ({**_order_update("Ada", "#42"), "language": {"code": "fr"}}, "language 'fr'"),
    ({"name": "new_offer", "language": {"code": "de"}}, "is PENDING"),
    (_order_update("Ada"), "the body takes 2 parameters"),
    (_order_update("Ada", "#42", "extra"), "the body takes 2 parameters"),
    (_order_update("Ada", "#42", header=False), "the header is IMAGE"),
    (
        {"name": "appointment_reminder", "language": {"code": "de"}, "components": [
            {"type": "header", "parameters": _params("x")},
            {"type": "body", "parameters": _params("Montag")}]},
        "the template has no header",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("template", "reason"), REFUSALS, ids=[r for _, r in REFUSALS])
def test_a_template_that_does_not_fit_is_a_400_naming_template_and_stores_nothing(
    wapipe: Wapipe,
    shop: Tenant,
    client: FlaskClient,
    container: Container,
    template: dict[str, Any],
    reason: str,
) -> None:
    wapipe("templates", "sync", "--company", str(shop.company_id))
    response = _send(client, shop, template)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert reason in error["details"]["template"]
    with container.db.transaction() as session:
        count = session.scalar(
            select(func.count()).select_from(Message).where(Message.company_id == shop.company_id)
        )
    assert count == 0


def test_a_status_webhook_changes_the_stored_template(
    wapipe: Wapipe, shop: Tenant, client: FlaskClient, worker: Worker, container: Container
) -> None:
    wapipe("templates", "sync", "--company", str(shop.company_id))
    update = {
        "event": "PAUSED",
        "message_template_id": 1,
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": "low quality",
    }
    change = {"field": "message_template_status_update", "value": update}
    body = json.dumps(
        {"object": "whatsapp_business_account",
         "entry": [{"id": shop.phone_number_id, "time": 1, "changes": [change]}]}
    ).encode()  # fmt: skip
    response = client.post(
        "/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body)
    )
    assert response.status_code == 200

    def paused() -> bool:
        with container.db.transaction() as session:
            status = session.scalar(
                select(Template.status).where(
                    Template.company_id == shop.company_id, Template.name == "order_update"
                )
            )
        return status == "PAUSED"

    wait_for(paused, what="template paused by its webhook")
    refused = _send(client, shop, _order_update("Ada", "#42"))
    assert refused.status_code == 400
    assert "is PAUSED" in refused.get_json()["error"]["details"]["template"]


def test_a_failed_template_message_retried_goes_out_with_the_same_template(
    wapipe: Wapipe, shop: Tenant, client: FlaskClient, worker: Worker, fake_provider: FakeProvider
) -> None:
    wapipe("templates", "sync", "--company", str(shop.company_id))
    template = _order_update("Ada", "#42")
    phone = new_phone()
    fake_provider.state.add_rule(phone.lstrip("+"), 131026, 1)  # undeliverable: permanent
    body = {"to": phone, "type": "template", "template": template}
    message_id = client.post("/v1/messages", json=body, headers=shop.auth).get_json()["id"]

    def status() -> str:
        return str(client.get(f"/v1/messages/{message_id}", headers=shop.auth).get_json()["status"])

    wait_for(lambda: status() == "failed", what="template message failed")
    assert client.post(f"/v1/messages/{message_id}/retry", headers=shop.auth).status_code == 202
    wait_for(lambda: status() == "read", what="retried template message read")
    sends = fake_provider.state.sends_for(message_id)["bodies"]
    assert [s["template"] for s in sends] == [template]  # the accepted send: the same template


def test_sync_refuses_clearly_without_a_business_account_or_a_valid_token(
    wapipe: Wapipe, tenant: Tenant, shop: Tenant, container: Container
) -> None:
    no_waba = wapipe("templates", "sync", "--company", str(tenant.company_id), code=1)
    assert "waba_id" in no_waba.output
    with container.db.transaction() as session:
        session.execute(
            text("UPDATE channels SET waba_id = 'unknown-account' WHERE company_id = :c"),
            {"c": shop.company_id},
        )
    refused = wapipe("templates", "sync", "--company", str(shop.company_id), code=1)
    assert "the provider refused to list templates (code 190)" in refused.output
    assert "Traceback" not in refused.output
