"""/v1/conversations: the chat list, one chat and its thread, and the actions around them."""

import uuid
from typing import TypeVar

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from pipeline.api.auth import container, load_principal, principal
from pipeline.api.errors import field_errors
from pipeline.api.idempotency import idempotency, reply_response
from pipeline.api.requests import parse_body
from pipeline.domain.errors import ValidationError
from pipeline.services.conversation_queries import (
    ListConversationsQuery,
    ListMessagesQuery,
    get_conversation,
    list_conversations,
    list_messages,
)
from pipeline.services.conversations import (
    CreateConversationRequest,
    UpdateConversationRequest,
    clear_conversation,
    create_conversation,
    delete_conversation,
    mark_conversation_read,
    update_conversation,
)

bp = Blueprint("conversations", __name__, url_prefix="/v1")
bp.before_request(load_principal)

Q = TypeVar("Q", bound=BaseModel)


def parse_query(model: type[Q]) -> Q:
    """The query string as ``model``; a repeated parameter is a 400, never silently dropped."""
    args = request.args.to_dict(flat=False)
    repeated = {name: "given more than once" for name, values in args.items() if len(values) > 1}
    if repeated:
        raise ValidationError("the query is not valid", repeated)
    try:
        return model.model_validate({name: values[0] for name, values in args.items()})
    except PydanticValidationError as exc:
        raise ValidationError("the query is not valid", field_errors(exc)) from exc


@bp.post("/conversations")
def create() -> Response:
    body = parse_body(CreateConversationRequest)
    once = idempotency("POST /v1/conversations")
    return reply_response(create_conversation(container().db, principal(), body, once))


@bp.get("/conversations")
def index() -> Response:
    query = parse_query(ListConversationsQuery)
    return jsonify(list_conversations(container().db, principal(), query))


@bp.get("/conversations/<uuid:conversation_id>")
def show(conversation_id: uuid.UUID) -> Response:
    return jsonify(get_conversation(container().db, principal(), conversation_id))


@bp.get("/conversations/<uuid:conversation_id>/messages")
def messages(conversation_id: uuid.UUID) -> Response:
    query = parse_query(ListMessagesQuery)
    return jsonify(list_messages(container().db, principal(), conversation_id, query))


@bp.post("/conversations/<uuid:conversation_id>/read")
def mark_read(conversation_id: uuid.UUID) -> Response:
    return jsonify(mark_conversation_read(container().db, principal(), conversation_id))


@bp.patch("/conversations/<uuid:conversation_id>")
def patch(conversation_id: uuid.UUID) -> Response:
    body = parse_body(UpdateConversationRequest)
    return jsonify(update_conversation(container().db, principal(), conversation_id, body))


@bp.post("/conversations/<uuid:conversation_id>/clear")
def clear(conversation_id: uuid.UUID) -> Response:
    return jsonify(clear_conversation(container().db, principal(), conversation_id))


@bp.delete("/conversations/<uuid:conversation_id>")
def delete(conversation_id: uuid.UUID) -> tuple[str, int]:
    delete_conversation(container().db, principal(), conversation_id)
    return "", 204
