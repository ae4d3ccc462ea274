"""What `wapipe up` sets up for its demo beyond text: a template catalogue at the fake
provider (synced into wapipe) and a small image uploaded to send by id."""

import struct
import uuid
import zlib
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


def demo_png(width: int = 240, height: int = 160) -> bytes:
    """A small receipt-coloured gradient PNG (something to see in the inbox), drawn here."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\0" + bytes(v for x in range(width) for v in (0, 168 - y // 4, 132 + x // 4))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
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
    files = {"file": ("receipt.png", demo_png(), "image/png")}
    uploaded = http.post("/v1/media", files=files)
    uploaded.raise_for_status()
    image = {"id": uploaded.json()["id"], "caption": "Your receipt"}
    return {"to": to, "type": "image", "image": image}


def customer_writes(fake_url: str, phone_number_id: str, phone: str, name: str) -> None:
    """The fake provider posts an inbound message from ``phone`` (a customer replying)."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    body = {
        "phone_number_id": phone_number_id,
        "from": digits,
        "name": name,
        "type": "text",
        "text": {"body": "Thanks! Could you tell me when my order arrives?"},
    }
    httpx.post(f"{fake_url}/_fake/inbound", json=body, timeout=10).raise_for_status()
