"""What `wapipe up` sets up for its demo beyond text: a template catalogue at the fake
provider (synced into wapipe) and a small image uploaded to send by id."""

import uuid
from typing import Any

import httpx

from db.session import Database, make_engine
from pipeline.config import Settings
from pipeline.crypto import TokenCipher
from pipeline.provider.client import HttpWhatsAppClient
from pipeline.services.template_sync import sync_templates

DEMO_TEMPLATE = {
    "name": "order_update",
    "language": "en_US",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Hi {{1}}, your order has shipped."}],
}
# The smallest PNG there is: one transparent pixel.
DEMO_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def seed_demo_templates(
    settings: Settings, fake_url: str, waba_id: str, company_id: uuid.UUID
) -> None:
    """Give the fake a catalogue and sync it into wapipe, as `wapipe templates sync` would."""
    response = httpx.put(
        f"{fake_url}/_fake/templates/{waba_id}", json={"templates": [DEMO_TEMPLATE]}, timeout=10
    )
    response.raise_for_status()
    database = Database(make_engine(settings.database_url, pool_size=1))
    client = HttpWhatsAppClient(settings.whatsapp_api_base_url, 10.0, 1)
    try:
        sync_templates(database, client, TokenCipher.from_settings(settings), company_id)
    finally:
        client.close()
        database.dispose()


def template_message(to: str, name: str) -> dict[str, Any]:
    template = {
        "name": DEMO_TEMPLATE["name"],
        "language": {"code": DEMO_TEMPLATE["language"]},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": name}]}],
    }
    return {"to": to, "type": "template", "template": template}


def image_message(http: httpx.Client, to: str) -> dict[str, Any]:
    """Upload the demo image and return a message that sends it by its media id."""
    files = {"file": ("pixel.png", DEMO_PNG, "image/png")}
    uploaded = http.post("/v1/media", files=files)
    uploaded.raise_for_status()
    image = {"id": uploaded.json()["id"], "caption": "Your receipt"}
    return {"to": to, "type": "image", "image": image}
