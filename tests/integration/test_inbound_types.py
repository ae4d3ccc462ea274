"""Inbound messages of every type (issue 9): stored with `type` and `content` (Meta's
object), linked to our message they reply or react to; none ever fails the webhook."""

from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient

from fakeprovider import FakeProvider
from tests.conftest import Tenant
from tests.content_support import customer_writes
from tests.support import new_phone, send_message, wait_for

MEDIA = {"id": "998877", "mime_type": "image/jpeg", "sha256": "ab" * 32}
INBOUND: list[tuple[str, Any, str | None]] = [
    ("text", {"body": "hello"}, "hello"),
    ("image", {**MEDIA, "caption": "the crack"}, "the crack"),
    ("video", {**MEDIA, "mime_type": "video/mp4"}, None),
    ("audio", {"id": "5551", "mime_type": "audio/ogg; codecs=opus", "voice": True}, None),
    ("document", {**MEDIA, "mime_type": "application/pdf", "filename": "a.pdf"}, None),
    ("sticker", {"id": "5552", "mime_type": "image/webp", "animated": False}, None),
    ("location", {"latitude": 1.5, "longitude": 2.5, "name": "Home"}, "Home"),
    ("contacts", [{"name": {"formatted_name": "Ada"}, "phones": [{"phone": "+1"}]}], None),
    ("interactive", {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}},
     "Yes"),
    ("interactive", {"type": "list_reply", "list_reply": {"id": "m9", "title": "9:00"}},
     "9:00"),
    ("button", {"payload": "STOP", "text": "Stop promotions"}, "Stop promotions"),
    ("unsupported", None, None),
]  # fmt: skip


def _messages(client: FlaskClient, tenant: Tenant, phone: str) -> list[dict[str, Any]]:
    found = client.get(f"/v1/conversations?q={phone[1:]}", headers=tenant.auth).get_json()
    if not found["items"]:
        return []
    conversation_id = found["items"][0]["id"]
    page = client.get(f"/v1/conversations/{conversation_id}/messages", headers=tenant.auth)
    items: list[dict[str, Any]] = page.get_json()["items"]
    return items


def _inbound(client: FlaskClient, tenant: Tenant, phone: str, count: int = 1) -> Any:
    def found() -> list[dict[str, Any]] | None:
        inbound = [m for m in _messages(client, tenant, phone) if m["direction"] == "inbound"]
        return inbound if len(inbound) >= count else None

    return wait_for(found, what=f"{count} inbound message(s) from {phone}")


@pytest.mark.parametrize(
    ("kind", "typed", "shown_text"),
    INBOUND,
    ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(INBOUND)],
)
def test_each_inbound_type_is_stored_with_its_object(
    client: FlaskClient,
    tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
    kind: str,
    typed: Any,
    shown_text: str | None,
) -> None:
    phone = new_phone()
    fields = {kind: typed} if typed is not None else {"errors": [{"code": 131051}]}
    wamid = customer_writes(fake_provider, tenant, phone, type=kind, **fields)
    [message] = _inbound(client, tenant, phone)
    assert message["type"] == kind
    assert message["provider_message_id"] == wamid
    expected = typed if isinstance(typed, dict) else {kind: typed} if typed is not None else {}
    assert message["content"] == expected
    assert message["text"] == shown_text


def test_a_reply_and_a_reaction_link_to_our_message(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    phone = new_phone()
    ours = send_message(client, tenant, to=phone, text="Your order shipped")

    def wamid() -> str | None:
        shown = client.get(f"/v1/messages/{ours}", headers=tenant.auth).get_json()
        return shown["provider_message_id"]  # type: ignore[no-any-return]

    our_wamid = wait_for(wamid, what="our message sent")
    customer_writes(
        fake_provider, tenant, phone, type="text", text={"body": "thanks"},
        context={"from": "15550009999", "id": our_wamid},
    )  # fmt: skip
    customer_writes(
        fake_provider, tenant, phone, type="reaction",
        reaction={"message_id": our_wamid, "emoji": "\N{HEAVY BLACK HEART}"},
    )  # fmt: skip
    reaction, reply = _inbound(client, tenant, phone, count=2)
    assert reply["reply_to"] == ours
    assert reaction["type"] == "reaction"
    assert reaction["reply_to"] == ours
    assert reaction["text"] == "\N{HEAVY BLACK HEART}"
