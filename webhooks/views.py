"""The provider's webhook endpoint: handshake, and signed status callbacks."""

import hmac

from flask import Blueprint, Response, jsonify, request

from pipeline.api.auth import container
from pipeline.domain.errors import Forbidden, Unauthorized
from webhooks.service import receive_webhook
from webhooks.signature import is_valid_signature

bp = Blueprint("webhooks", __name__)


@bp.get("/webhooks/whatsapp")
def handshake() -> Response:
    expected = container().settings.whatsapp_verify_token
    token = request.args.get("hub.verify_token", "")
    mode = request.args.get("hub.mode")
    if mode != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("verification token mismatch")
    return Response(request.args.get("hub.challenge", ""), mimetype="text/plain")


@bp.post("/webhooks/whatsapp")
def receive() -> Response:
    # The signature covers the exact bytes Meta sent: check it before parsing anything.
    raw = request.get_data(cache=False)
    c = container()
    signature = request.headers.get("X-Hub-Signature-256")
    if not is_valid_signature(c.settings.whatsapp_app_secret, raw, signature):
        raise Unauthorized("missing or invalid X-Hub-Signature-256")
    delivery_id = receive_webhook(c.db, raw)
    return jsonify({"received": delivery_id})
