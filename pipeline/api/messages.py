"""/v1/messages: send, look up, retry."""

import uuid

from flask import Blueprint, Response, jsonify

from pipeline.api.auth import container, load_principal, principal
from pipeline.api.idempotency import idempotency, reply_response
from pipeline.api.requests import parse_body
from pipeline.domain.statuses import Source
from pipeline.services.intake import retry_message, submit_message_once
from pipeline.services.message_request import SendMessageRequest
from pipeline.services.messages import get_message

bp = Blueprint("messages", __name__, url_prefix="/v1")
bp.before_request(load_principal)


@bp.post("/messages")
def send_message() -> Response:
    body = parse_body(SendMessageRequest)
    c = container()
    once = idempotency("POST /v1/messages")
    return reply_response(submit_message_once(c.db, c.queue, principal(), body, once))


@bp.get("/messages/<uuid:message_id>")
def show_message(message_id: uuid.UUID) -> Response:
    return jsonify(get_message(container().db, principal(), message_id))


@bp.post("/messages/<uuid:message_id>/retry")
def retry(message_id: uuid.UUID) -> tuple[Response, int]:
    c = container()
    retry_message(c.db, c.queue, principal(), message_id, Source.INTAKE)
    return jsonify({"id": str(message_id), "status": "sending"}), 202
