"""The provider's webhook handshake (GET). Signed POSTs are served by `receiver.py`."""

import hmac

from flask import Blueprint, Response, request

from pipeline.api.auth import container
from pipeline.domain.errors import Forbidden

bp = Blueprint("webhooks", __name__)


@bp.get("/webhooks/whatsapp")
def handshake() -> Response:
    expected = container().settings.whatsapp_verify_token
    token = request.args.get("hub.verify_token", "")
    mode = request.args.get("hub.mode")
    if mode != "subscribe" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("verification token mismatch")
    return Response(request.args.get("hub.challenge", ""), mimetype="text/plain")
