"""Media (issue 9): upload within Meta's limits then send by id; download what a customer
sent, byte for byte, and only by its own company."""

import base64
from typing import Any

import pytest
from dramatiq import Worker
from flask.testing import FlaskClient

from fakeprovider import FakeProvider
from tests.conftest import Tenant
from tests.content_support import customer_writes
from tests.support import new_phone, wait_for

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)


def _upload(client: FlaskClient, tenant: Tenant, data: bytes, mime: str, name: str = "f") -> Any:
    # Encoded here: the test client spools a large form to a temporary file it never closes.
    head = (
        f'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    )
    body = head.encode() + data + b"\r\n--b0undary--\r\n"
    return client.post(
        "/v1/media",
        data=body,
        headers=tenant.auth,
        content_type="multipart/form-data; boundary=b0undary",
    )


def _status(client: FlaskClient, tenant: Tenant, message_id: str) -> str:
    return str(client.get(f"/v1/messages/{message_id}", headers=tenant.auth).get_json()["status"])


def test_an_uploaded_image_is_sent_by_its_id_and_reaches_read(
    client: FlaskClient, tenant: Tenant, worker: Worker, fake_provider: FakeProvider
) -> None:
    uploaded = _upload(client, tenant, PNG, "image/png", "photo.png")
    assert uploaded.status_code == 201, uploaded.get_json()
    media = uploaded.get_json()
    assert media["mime_type"] == "image/png"
    assert media["size"] == len(PNG)
    stored = fake_provider.state.content.media(media["id"])
    assert stored is not None
    assert stored.data == PNG
    image = {"id": media["id"], "caption": "your product"}
    body = {"to": new_phone(), "type": "image", "image": image}
    message_id = client.post("/v1/messages", json=body, headers=tenant.auth).get_json()["id"]
    wait_for(lambda: _status(client, tenant, message_id) == "read", what="image read")
    [sent] = fake_provider.state.sends_for(message_id)["bodies"]
    assert sent["image"] == image
    downloaded = client.get(f"/v1/media/{media['id']}", headers=tenant.auth)
    assert downloaded.status_code == 200
    assert downloaded.data == PNG


BAD_UPLOADS = [
    (PNG, "image/jpeg", 400, "does not look like image/jpeg"),  # mislabelled
    (b"MZ\x90\x00" + bytes(100), "application/x-msdownload", 400, "unsupported type"),
    (b"", "image/png", 400, "empty"),
    (JPEG + bytes(5 * 1024 * 1024), "image/jpeg", 413, "bytes"),  # over an image's 5 MB
    (b"RIFF\x00\x00\x00\x00WEBP" + bytes(600 * 1024), "image/webp", 413, "bytes"),
]


@pytest.mark.parametrize(
    ("data", "mime", "status", "reason"), BAD_UPLOADS, ids=[m for _, m, _, _ in BAD_UPLOADS]
)
def test_an_upload_outside_metas_limits_is_refused_before_anything_is_sent(
    client: FlaskClient,
    tenant: Tenant,
    fake_provider: FakeProvider,
    data: bytes,
    mime: str,
    status: int,
    reason: str,
) -> None:
    before = fake_provider.state.content.media_count()
    response = _upload(client, tenant, data, mime)
    assert response.status_code == status, response.get_json()
    assert reason in response.get_json()["error"]["details"]["file"]
    assert fake_provider.state.content.media_count() == before


def test_an_upload_must_be_a_multipart_form_with_a_file(
    client: FlaskClient, tenant: Tenant
) -> None:
    as_json = client.post("/v1/media", json={"file": "x"}, headers=tenant.auth)
    assert as_json.status_code == 400
    no_file = client.post(
        "/v1/media", data={"other": "x"}, headers=tenant.auth, content_type="multipart/form-data"
    )
    assert no_file.status_code == 400
    assert "file" in no_file.get_json()["error"]["details"]


def test_an_inbound_image_is_downloaded_byte_for_byte_by_its_company_only(
    client: FlaskClient,
    tenant: Tenant,
    other_tenant: Tenant,
    worker: Worker,
    fake_provider: FakeProvider,
) -> None:
    phone = new_phone()
    media = {"mime_type": "image/jpeg", "data_base64": base64.b64encode(JPEG).decode()}
    customer_writes(
        fake_provider, tenant, phone, type="image", image={"caption": "broken"}, media=media
    )

    def inbound() -> dict[str, Any] | None:
        found = client.get(f"/v1/conversations?q={phone[1:]}", headers=tenant.auth).get_json()
        if not found["items"]:
            return None
        page = client.get(
            f"/v1/conversations/{found['items'][0]['id']}/messages", headers=tenant.auth
        ).get_json()
        return page["items"][0] if page["items"] else None

    message = wait_for(inbound, what="inbound image stored")
    assert message["type"] == "image"
    assert message["direction"] == "inbound"
    assert message["text"] == "broken"
    media_id = message["content"]["id"]
    downloaded = client.get(f"/v1/media/{media_id}", headers=tenant.auth)
    assert downloaded.status_code == 200
    assert downloaded.mimetype == "image/jpeg"
    assert downloaded.data == JPEG
    assert client.get(f"/v1/media/{media_id}", headers=other_tenant.auth).status_code == 404
    assert client.get("/v1/media/123456", headers=tenant.auth).status_code == 404
    assert client.get("/v1/media/bad$id", headers=tenant.auth).status_code == 400
