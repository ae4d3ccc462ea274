"""Typed messages (issue 9): each type reaches `read` through the fake, as Meta's object;
what Meta would refuse for its shape is a 400 naming the field, and nothing is stored."""

import uuid
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import func, select

from db.models import Message
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from tests.conftest import Tenant
from tests.support import new_phone, send_message, wait_for

LINK = "https://example.com/files/a"
BUTTONS = {
    "type": "button",
    "body": {"text": "Confirm your appointment?"},
    "action": {
        "buttons": [
            {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
            {"type": "reply", "reply": {"id": "no", "title": "No"}},
        ]
    },
}
LIST = {
    "type": "list",
    "header": {"type": "text", "text": "Menu"},
    "body": {"text": "Pick a slot"},
    "footer": {"text": "Clinic"},
    "action": {
        "button": "Slots",
        "sections": [{"title": "Monday", "rows": [{"id": "m9", "title": "9:00"}]}],
    },
}
TYPED: list[tuple[str, dict[str, Any]]] = [
    ("text", {"body": "see https://example.com", "preview_url": True}),
    ("image", {"link": LINK + ".jpg", "caption": "your invoice"}),
    ("video", {"link": LINK + ".mp4"}),
    ("audio", {"link": LINK + ".ogg"}),
    ("document", {"link": LINK + ".pdf", "caption": "invoice", "filename": "invoice.pdf"}),
    ("sticker", {"id": "1234567890"}),
    ("location", {"latitude": 52.52, "longitude": 13.405, "name": "Clinic", "address": "Main 1"}),
    ("interactive", BUTTONS),
    ("interactive", LIST),
]


def _read(client: FlaskClient, tenant: Tenant, message_id: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(
            f"/v1/messages/{message_id}", headers=tenant.auth
        ).get_json()
        return body if body["status"] == "read" else None

    return wait_for(seen, what=f"message {message_id} read")


def _count(container: Container, tenant: Tenant) -> int:
    with container.db.transaction() as session:
        found: int = session.scalar(
            select(func.count()).select_from(Message).where(Message.company_id == tenant.company_id)
        )
    return found


@pytest.mark.parametrize(
    ("kind", "typed"), TYPED, ids=[f"{k}-{i}" for i, (k, _) in enumerate(TYPED)]
)
def test_each_type_reaches_read_and_meta_gets_its_object(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    kind: str,
    typed: dict[str, Any],
) -> None:
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "type": kind, kind: typed}, headers=tenant.auth
    )
    assert response.status_code == 202, response.get_json()
    message_id = response.get_json()["id"]
    shown = _read(client, tenant, message_id)
    assert shown["type"] == kind
    assert shown["content"] == typed
    [sent] = fake_provider.state.sends_for(message_id)["bodies"]
    assert sent["type"] == kind
    assert sent[kind] == typed


def test_a_plain_text_message_shows_its_text_object(
    client: FlaskClient, tenant: Tenant, worker: Worker
) -> None:
    message_id = send_message(client, tenant, text="hello")
    shown = _read(client, tenant, message_id)
    assert (shown["type"], shown["content"]) == ("text", {"body": "hello", "preview_url": False})


def test_a_reaction_names_our_message_and_meta_gets_its_wamid(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    phone = new_phone()
    target = send_message(client, tenant, to=phone, text="your order shipped")
    wamid = _read(client, tenant, target)["provider_message_id"]
    reaction = {"message_id": target, "emoji": "\N{THUMBS UP SIGN}"}
    response = client.post(
        "/v1/messages",
        json={"to": phone, "type": "reaction", "reaction": reaction},
        headers=tenant.auth,
    )
    assert response.status_code == 202, response.get_json()
    shown = _read(client, tenant, response.get_json()["id"])
    assert shown["content"] == reaction
    [sent] = fake_provider.state.sends_for(response.get_json()["id"])["bodies"]
    assert sent["reaction"] == {"message_id": wamid, "emoji": "\N{THUMBS UP SIGN}"}
    assert "context" not in sent


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"type": "image", "image": {"link": LINK, "id": "123"}}, "image"),
    ({"type": "image", "image": {}}, "image"),
    ({"type": "audio", "audio": {"link": LINK, "caption": "hi"}}, "audio.caption"),
    ({"type": "sticker", "sticker": {"id": "1", "caption": "hi"}}, "sticker.caption"),
    ({"type": "image", "image": {"link": LINK, "filename": "a.jpg"}}, "image.filename"),
    ({"type": "image", "image": {"link": "ftp://example.com/a.jpg"}}, "image.link"),
    ({"type": "image", "image": {"link": "javascript:alert(1)"}}, "image.link"),
    ({"type": "image", "image": {"link": LINK, "size": 3}}, "image.size"),
    ({"type": "image", "text": "hi"}, "image"),
    ({"type": "location", "location": {"latitude": 91, "longitude": 0}}, "location.latitude"),
    ({"type": "location", "location": {"latitude": 0, "longitude": -181}}, "location.longitude"),
    ({"type": "reaction", "reaction": {"message_id": "nope", "emoji": "x"}}, "reaction.message_id"),
    ({"type": "text", "text": {"body": " "}}, "text"),
    ({"type": "text", "text": {"body": "hi", "extra": 1}}, "text"),
    ({"type": "telegram", "text": "hi"}, "type"),
    ({"type": "template", "template": {"name": "Bad Name", "language": {"code": "en"}}},
     "template.name"),
    ({"type": "template", "template": {"name": "x"}}, "template.language"),
]  # fmt: skip


def _too_many_buttons() -> dict[str, Any]:
    buttons = [{"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)]
    return {"type": "interactive", "interactive": {**BUTTONS, "action": {"buttons": buttons}}}


REFUSED += [
    (_too_many_buttons(), "interactive.action.buttons"),
    ({"type": "interactive", "interactive": {**BUTTONS, "type": "list"}}, "interactive"),
    (
        {"type": "interactive", "interactive": {**LIST, "header": {"type": "image"}}},
        "interactive.header",
    ),
]


@pytest.mark.parametrize(("body", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_what_meta_would_refuse_is_a_400_naming_the_field_and_stores_nothing(
    client: FlaskClient, tenant: Tenant, container: Container, body: dict[str, Any], field: str
) -> None:
    before = _count(container, tenant)
    response = client.post("/v1/messages", json={"to": new_phone(), **body}, headers=tenant.auth)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error["details"]
    assert _count(container, tenant) == before


def test_a_reaction_to_another_companys_message_is_404_and_stores_nothing(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, container: Container
) -> None:
    theirs = send_message(client, other_tenant)
    before = _count(container, tenant)
    response = client.post(
        "/v1/messages",
        json={
            "to": new_phone(),
            "type": "reaction",
            "reaction": {"message_id": theirs, "emoji": "x"},
        },
        headers=tenant.auth,
    )
    assert response.status_code == 404
    assert "reaction.message_id" in response.get_json()["error"]["details"]
    assert _count(container, tenant) == before
    unknown = {"message_id": str(uuid.uuid4()), "emoji": "x"}
    response = client.post(
        "/v1/messages",
        json={"to": new_phone(), "type": "reaction", "reaction": unknown},
        headers=tenant.auth,
    )
    assert response.status_code == 404
