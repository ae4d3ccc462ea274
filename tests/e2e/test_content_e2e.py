"""End to end (issue 9): typed messages through real gunicorn, dramatiq and the fake
provider: a template synced by the CLI, an uploaded image sent by id, a customer's photo
downloaded byte for byte, all over HTTP."""

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from pipeline.bootstrap import Container
from pipeline.config import Settings
from pipeline.services import tenants
from tests.cli_support import Wapipe
from tests.e2e.conftest import Stack
from tests.support import new_phone, wait_for

pytestmark = pytest.mark.e2e

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
TEMPLATE = {
    "name": "appointment_reminder",
    "language": "en",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "See you on {{1}}"}],
}


@pytest.fixture
def clinic(
    stack: Stack, container: Container, fake_admin: httpx.Client
) -> Iterator[tuple[httpx.Client, uuid.UUID, str]]:
    """A company with a business account id and a catalogue at the fake."""
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-{uuid.uuid4().hex}"
    new = tenants.create_company(container.db, "Clinic", pnid, token, waba_id=pnid)
    fake_admin.put(f"/_fake/channels/{pnid}", json={"access_token": token}).raise_for_status()
    fake_admin.put(f"/_fake/templates/{pnid}", json={"templates": [TEMPLATE]}).raise_for_status()
    with httpx.Client(
        base_url=stack.api_url, headers={"Authorization": f"Bearer {new.api_key}"}, timeout=10
    ) as client:
        yield client, new.company_id, pnid


def _read(api: httpx.Client, message_id: str) -> dict[str, Any]:
    def read() -> dict[str, Any] | None:
        message: dict[str, Any] = api.get(f"/v1/messages/{message_id}").json()
        return message if message["status"] == "read" else None

    return wait_for(read, timeout=30, interval=0.2, what=f"{message_id} read")


def test_a_template_and_an_uploaded_image_reach_read(
    clinic: tuple[httpx.Client, uuid.UUID, str],
    settings: Settings,
    stack: Stack,
    fake_admin: httpx.Client,
) -> None:
    api, company_id, _ = clinic
    # The CLI as an operator runs it against the stack's provider.
    wapipe = Wapipe(
        settings.model_copy(update={"whatsapp_api_base_url": stack.fake_url + "/v21.0"})
    )
    assert (
        wapipe.json("templates", "sync", "--company", str(company_id), "--json")["templates"] == 1
    )
    template = {
        "name": "appointment_reminder",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Monday"}]}],
    }
    sent = api.post(
        "/v1/messages", json={"to": new_phone(), "type": "template", "template": template}
    )
    assert sent.status_code == 202, sent.text
    assert _read(api, sent.json()["id"])["content"] == template

    uploaded = api.post("/v1/media", files={"file": ("x.png", PNG, "image/png")})
    assert uploaded.status_code == 201, uploaded.text
    image = {"id": uploaded.json()["id"]}
    sent = api.post("/v1/messages", json={"to": new_phone(), "type": "image", "image": image})
    assert _read(api, sent.json()["id"])["content"] == image
    [body] = fake_admin.get(f"/_fake/sends/{sent.json()['id']}").json()["bodies"]
    assert body["image"] == image


def test_a_customers_photo_is_downloaded_byte_for_byte(
    clinic: tuple[httpx.Client, uuid.UUID, str], fake_admin: httpx.Client, container: Container
) -> None:
    api, company_id, pnid = clinic
    phone = new_phone()
    media = {"mime_type": "image/png", "data_base64": base64.b64encode(PNG).decode()}
    posted = fake_admin.post(
        "/_fake/inbound",
        json={"phone_number_id": pnid, "from": phone, "type": "image", "image": {}, "media": media},
    )
    assert posted.json()["webhook_status"] == 200
    media_id = posted.json()["message"]["image"]["id"]

    def stored() -> bool:
        with container.db.transaction() as session:
            return bool(session.execute(
                text("SELECT 1 FROM messages WHERE company_id = :c AND type = 'image' "
                     "AND direction = 'inbound'"), {"c": company_id}).first())  # fmt: skip

    wait_for(stored, timeout=30, interval=0.2, what="inbound image stored")
    downloaded = api.get(f"/v1/media/{media_id}")
    assert downloaded.status_code == 200
    assert downloaded.content == PNG
