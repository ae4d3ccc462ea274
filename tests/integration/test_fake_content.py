"""The fake provider's typed content (issue 9): its template catalogue refuses what Meta
would (132001, 132000), and media round-trips through upload, lookup and download."""

import uuid
from typing import Any

import httpx
import pytest

from fakeprovider import FakeProvider

CATALOGUE = [
    {"name": "order_update", "language": "en_US", "status": "APPROVED",
     "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}}"}]},
]  # fmt: skip


@pytest.fixture
def channel(fake_provider: FakeProvider) -> tuple[str, dict[str, str]]:
    pnid, token = str(uuid.uuid4().int % 10**15), uuid.uuid4().hex
    fake_provider.add_channel(pnid, token)
    fake_provider.state.content.put_templates(pnid, CATALOGUE)  # its WABA id is its number's
    return pnid, {"Authorization": f"Bearer {token}"}


def _template(fake: FakeProvider, pnid: str, auth: dict[str, str], **template: Any) -> Any:
    body = {"messaging_product": "whatsapp", "to": "16505550142", "type": "template",
            "template": {"language": {"code": "en_US"}, **template}}  # fmt: skip
    return httpx.post(f"{fake.api_url}/{pnid}/messages", json=body, headers=auth)


def test_the_catalogue_refuses_unknown_templates_and_wrong_parameter_counts(
    fake_provider: FakeProvider, channel: tuple[str, dict[str, str]]
) -> None:
    pnid, auth = channel
    unknown = _template(fake_provider, pnid, auth, name="nope")
    assert unknown.json()["error"]["code"] == 132001
    params = [{"type": "text", "text": "Ada"}]
    short = _template(fake_provider, pnid, auth, name="order_update",
                      components=[{"type": "body", "parameters": params}])  # fmt: skip
    assert short.json()["error"]["code"] == 132000
    fits = _template(fake_provider, pnid, auth, name="order_update",
                     components=[{"type": "body", "parameters": params * 2}])  # fmt: skip
    assert fits.status_code == 200, fits.text


def test_media_is_uploaded_looked_up_and_downloaded_with_the_token(
    fake_provider: FakeProvider, channel: tuple[str, dict[str, str]]
) -> None:
    pnid, auth = channel
    data = b"%PDF-1.4 fake"
    uploaded = httpx.post(
        f"{fake_provider.api_url}/{pnid}/media",
        data={"messaging_product": "whatsapp"},
        files={"file": ("a.pdf", data, "application/pdf")},
        headers=auth,
    )
    media_id = uploaded.json()["id"]
    info = httpx.get(f"{fake_provider.api_url}/{media_id}", headers=auth).json()
    assert (info["mime_type"], info["file_size"]) == ("application/pdf", len(data))
    assert httpx.get(info["url"], headers=auth).content == data
    assert httpx.get(info["url"], headers={"Authorization": "Bearer wrong"}).status_code == 401
