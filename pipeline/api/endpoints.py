"""/v1/webhook-endpoints: where a company's events are delivered (admin only)."""

import uuid

from flask import Blueprint, Response, jsonify

from pipeline.api.auth import container, load_principal, principal
from pipeline.api.requests import parse_body
from pipeline.services.webhook_endpoints import (
    CreateEndpointRequest,
    create_endpoint,
    delete_endpoint,
    list_endpoints,
    rotate_secret,
)

bp = Blueprint("webhook_endpoints", __name__, url_prefix="/v1")
bp.before_request(load_principal)


@bp.post("/webhook-endpoints")
def create() -> tuple[Response, int]:
    body = parse_body(CreateEndpointRequest)
    c = container()
    return jsonify(create_endpoint(c.db, c.settings, principal(), body)), 201


@bp.get("/webhook-endpoints")
def index() -> Response:
    return jsonify({"items": list_endpoints(container().db, principal())})


@bp.delete("/webhook-endpoints/<uuid:endpoint_id>")
def remove(endpoint_id: uuid.UUID) -> tuple[str, int]:
    delete_endpoint(container().db, principal(), endpoint_id)
    return "", 204


@bp.post("/webhook-endpoints/<uuid:endpoint_id>/rotate-secret")
def rotate(endpoint_id: uuid.UUID) -> Response:
    c = container()
    return jsonify(rotate_secret(c.db, c.settings, principal(), endpoint_id))
