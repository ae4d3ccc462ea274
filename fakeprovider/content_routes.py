"""The fake's Graph routes beyond the send (template list, media upload, lookup and download)
and the admin routes that configure templates and post customers' messages of any type."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, request

from fakeprovider.callbacks import _ssl_context
from fakeprovider.config import BAD_OAUTH_MESSAGE
from fakeprovider.poster import WebhookPoster
from fakeprovider.state import Channel, FakeState, new_wamid
from webhooks.signature import sign

PAGE_LIMIT = 25
_VERSION = re.compile(r"v\d+\.\d+")


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _error(code: int, message: str, status: int) -> Response:
    body = {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_data": {"details": message}, "fbtrace_id": "fake"}}  # fmt: skip
    return _json(body, status)


def _token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _allowed(state: FakeState, channels: list[Channel]) -> bool:
    token = _token()
    if not token:
        return False
    if state.config().accept_any_token:
        return True
    return any(hmac.compare_digest(token.encode(), c.access_token.encode()) for c in channels)


def _denied() -> Response:
    return _error(190, BAD_OAUTH_MESSAGE, 401)


def register_content_routes(app: Flask, state: FakeState) -> None:
    content = state.content

    @app.get("/<version>/<waba_id>/message_templates")
    def list_templates(version: str, waba_id: str) -> Response:
        if not _allowed(state, state.channels_of(waba_id)):
            return _denied()
        limit = max(1, min(int(request.args.get("limit", PAGE_LIMIT) or PAGE_LIMIT), 100))
        after = int(request.args.get("after", "0") or 0)
        templates = content.templates(waba_id)
        page: dict[str, Any] = {"data": templates[after : after + limit], "paging": {}}
        if after + limit < len(templates):
            query = urlencode({"limit": limit, "after": after + limit})
            page["paging"] = {
                "cursors": {"after": str(after + limit)},
                "next": f"{request.host_url}{version}/{waba_id}/message_templates?{query}",
            }
        return _json(page)

    @app.post("/<version>/<phone_number_id>/media")
    def upload_media(version: str, phone_number_id: str) -> Response:
        channel = state.channel(phone_number_id)
        if channel is None or not _allowed(state, [channel]):
            return _denied()
        file = request.files.get("file")
        if request.form.get("messaging_product") != "whatsapp" or file is None:
            return _error(100, "Param file and messaging_product=whatsapp are required", 400)
        media_id = content.put_media(phone_number_id, file.mimetype, file.read())
        return _json({"id": media_id})

    @app.get("/<version>/<media_id>")
    def media_info(version: str, media_id: str) -> Response:
        if not _VERSION.fullmatch(version):
            abort(404)
        stored = content.media(media_id)
        if stored is None:
            abort(404)  # like any unknown path of the fake
        channel = state.channel(stored.phone_number_id)
        if channel is None or not _allowed(state, [channel]):
            return _denied()
        return _json(
            {
                "messaging_product": "whatsapp",
                "url": f"{request.host_url}_fake/media/{media_id}",
                "mime_type": stored.mime_type,
                "sha256": hashlib.sha256(stored.data).hexdigest(),
                "file_size": len(stored.data),
                "id": media_id,
            }
        )

    @app.get("/_fake/media/<media_id>")
    def download_media(media_id: str) -> Response:
        stored = content.media(media_id)
        if stored is None:
            return _error(100, "no such media", 404)
        channel = state.channel(stored.phone_number_id)
        if channel is None or not _allowed(state, [channel]):
            return _denied()
        return Response(stored.data, mimetype=stored.mime_type)

    @app.put("/_fake/templates/<waba_id>")
    def put_templates(waba_id: str) -> Response:
        data = request.get_json(force=True, silent=True)
        templates = data.get("templates") if isinstance(data, dict) else None
        if not isinstance(templates, list) or not all(isinstance(t, dict) for t in templates):
            return _error(100, "templates must be a list of objects", 400)
        content.put_templates(waba_id, templates)
        return _json({"waba_id": waba_id, "templates": len(templates)})

    @app.post("/_fake/inbound")
    def post_inbound() -> Response:
        """A customer writes: the signed `messages` webhook is POSTed to wapipe at once."""
        data = request.get_json(force=True, silent=True)
        if not isinstance(data, dict):
            return _error(100, "the body must be a JSON object", 400)
        channel = state.channel(str(data.get("phone_number_id")))
        customer = str(data.get("from", "")).lstrip("+")
        kind = data.get("type")
        if channel is None or not customer.isdigit() or not isinstance(kind, str):
            return _error(100, "phone_number_id (known), from and type are required", 400)
        message = _inbound_message(state, channel, customer, kind, data)
        status = _post_webhook(state, channel, customer, message, data.get("name"))
        content.customer_wrote(channel.phone_number_id, customer, time.time())
        return _json({"wamid": message["id"], "webhook_status": status, "message": message})


def _inbound_message(
    state: FakeState, channel: Channel, customer: str, kind: str, data: dict[str, Any]
) -> dict[str, Any]:
    typed = dict(data.get(kind) or {}) if isinstance(data.get(kind), dict) else data.get(kind)
    media = data.get("media")
    if isinstance(media, dict) and isinstance(typed, dict):
        # Bytes to serve: stored like an upload, announced by id as Meta does.
        raw = base64.b64decode(str(media.get("data_base64", "")))
        mime = str(media.get("mime_type") or "application/octet-stream")
        typed.update(
            id=state.content.put_media(channel.phone_number_id, mime, raw),
            mime_type=mime,
            sha256=hashlib.sha256(raw).hexdigest(),
        )
    message: dict[str, Any] = {
        "from": customer,
        "id": new_wamid(customer),
        "timestamp": str(int(time.time())),
        "type": kind,
    }
    if typed is not None:
        message[kind] = typed
    if isinstance(data.get("context"), dict):
        message["context"] = data["context"]
    return message


def _post_webhook(
    state: FakeState, channel: Channel, customer: str, message: dict[str, Any], name: Any
) -> int:
    config = state.config()
    if not config.webhook_url:
        return 0
    metadata = {"display_phone_number": channel.label, "phone_number_id": channel.phone_number_id}
    value = {
        "messaging_product": "whatsapp",
        "metadata": metadata,
        "contacts": [{"profile": {"name": str(name or "Customer")}, "wa_id": customer}],
        "messages": [message],
    }
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": channel.waba_id, "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()
    headers = {"Content-Type": "application/json",
               "X-Hub-Signature-256": sign(config.app_secret, body)}  # fmt: skip
    poster = WebhookPoster(timeout=10.0, ssl_context=_ssl_context)
    try:
        return poster.post(config.webhook_url, body, headers)
    finally:
        poster.close()
