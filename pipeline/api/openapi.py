"""GET /openapi.json: an OpenAPI 3.1 document built with openapi-pydantic.

Request bodies and query strings are the very pydantic models the views validate with, plus
what their validators enforce (openapi_formats); responses are the models in
pipeline.api.schemas. The table below lists each route once, with the errors it really answers
(validation is 400, never a generator's 422) and the links a stateful client can follow from
it; a test checks it against the app's URL map, and tests/fuzz runs schemathesis against it.
"""

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Blueprint, Response, jsonify
from openapi_pydantic import (
    Components,
    Info,
    Link,
    MediaType,
    OpenAPI,
    Operation,
    Parameter,
    PathItem,
    RequestBody,
    Schema,
    SecurityScheme,
    schema_validate,
)
from openapi_pydantic import Response as OpenAPIResponse
from openapi_pydantic.util import PydanticSchema, construct_open_api_with_schema_class
from pydantic import BaseModel

from pipeline.api import openapi_formats, schemas
from pipeline.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from pipeline.api.message_schema import describe_send_request
from pipeline.api.templates import ListTemplatesQuery
from pipeline.services.conversation_queries import ListConversationsQuery, ListMessagesQuery
from pipeline.services.conversations import CreateConversationRequest, UpdateConversationRequest
from pipeline.services.idempotency import MAX_KEY_LENGTH
from pipeline.services.message_request import SendMessageRequest
from pipeline.services.webhook_endpoints import CreateEndpointRequest
from webhooks.payloads import WebhookPayload

bp = Blueprint("openapi", __name__)

ERROR_MEANINGS = {
    400: "VALIDATION_ERROR: the body, query or a header is not valid (details name the fields)",
    401: "UNAUTHORIZED: no valid API key",
    403: "FORBIDDEN: the caller's role does not allow this (clear, delete, assign others, "
    "manage webhook endpoints)",
    404: "NOT_FOUND: no such resource in the caller's company",
    409: "CONFLICT, IDEMPOTENCY_CONFLICT, IDEMPOTENCY_IN_PROGRESS or WINDOW_CLOSED (a "
    "non-template message outside the 24-hour window under the `enforce` policy)",
    413: "PAYLOAD_TOO_LARGE: the body is over 1 MiB (a media upload: over its type's limit)",
    415: "UNSUPPORTED_MEDIA_TYPE: send the body as application/json",
    429: "RATE_LIMITED: over the API key's rate; retry after `Retry-After` seconds",
    503: "UNAVAILABLE: a dependency is unreachable",
}
_BODY_ERRORS = (400, 413, 415)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    responses: dict[int, type[BaseModel] | None]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    idempotent: bool = False
    public: bool = False
    # A multipart/form-data body with one `file` (a media upload) instead of JSON.
    upload: bool = False
    extra_parameters: list[Parameter] = field(default_factory=list)
    # {link name: (operationId, {parameter: runtime expression})}, on every success response.
    links: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)

    @property
    def operation_id(self) -> str:
        path = self.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
        return f"{self.method}_{path}"


def _to(operation_id: str, parameter: str) -> tuple[str, dict[str, str]]:
    """A link to ``operation_id`` with ``parameter`` taken from the answer's `id`."""
    return operation_id, {parameter: "$response.body#/id"}


_MESSAGE = "message_id"
_CONVERSATION = "conversation_id"
_ENDPOINT = "endpoint_id"
# Each conversation operation a created (or found) conversation leads to.
_CONVERSATION_LINKS = {
    "GetConversation": _to("get_v1_conversations_conversation_id", _CONVERSATION),
    "UpdateConversation": _to("patch_v1_conversations_conversation_id", _CONVERSATION),
    "ListConversationMessages": _to("get_v1_conversations_conversation_id_messages", _CONVERSATION),
    "MarkConversationRead": _to("post_v1_conversations_conversation_id_read", _CONVERSATION),
    "ClearConversation": _to("post_v1_conversations_conversation_id_clear", _CONVERSATION),
    "DeleteConversation": _to("delete_v1_conversations_conversation_id", _CONVERSATION),
}
# Every /v1 operation: a missing or bad key, or a key over its rate limit.
_V1 = (401, 429)
ROUTES = [
    Route("get", "/healthz", "Liveness", {200: schemas.Health}, public=True),
    Route(
        "get",
        "/readyz",
        "Readiness: the database and Redis are reachable",
        {200: schemas.Readiness},
        (503,),
        public=True,
    ),
    Route("get", "/openapi.json", "This document", {200: None}, public=True),
    Route(
        "get",
        "/metrics",
        "Prometheus metrics of the API processes and the pipeline's state",
        {200: None},
        public=True,
    ),
    Route(
        "post",
        "/v1/messages",
        "Send a message: text, template, media, location, interactive or reaction "
        "(202: accepted as `sending`)",
        {202: schemas.MessageAccepted},
        (*_V1, 404, 409, *_BODY_ERRORS),
        body=SendMessageRequest,
        idempotent=True,
        links={
            "GetMessage": _to("get_v1_messages_message_id", _MESSAGE),
            "RetryMessage": _to("post_v1_messages_message_id_retry", _MESSAGE),
            "GetConversation": (
                "get_v1_conversations_conversation_id",
                {_CONVERSATION: "$response.body#/conversation_id"},
            ),
        },
    ),
    Route(
        "get",
        "/v1/messages/{message_id}",
        "A message with its error fields and status history",
        {200: schemas.MessageWithHistory},
        (*_V1, 404),
    ),
    Route(
        "post",
        "/v1/messages/{message_id}/retry",
        "Retry a failed message",
        {202: schemas.RetryAccepted},
        (*_V1, 404, 409),
    ),
    Route(
        "get",
        "/v1/templates",
        "The company's message templates, as last synced",
        {200: schemas.TemplateList},
        (*_V1, 400),
        query=ListTemplatesQuery,
    ),
    Route(
        "post",
        "/v1/media",
        "Upload a file (multipart field `file`) to send by id (201)",
        {201: schemas.MediaUploaded},
        (*_V1, 400, 413, 503),
        upload=True,
    ),
    Route(
        "get",
        "/v1/media/{media_id}",
        "The bytes of a media the company sent or received",
        {200: None},
        (*_V1, 400, 404, 503),
    ),
    Route(
        "post",
        "/v1/conversations",
        "Create or find the conversation with a phone (201 created, 200 found)",
        {201: schemas.ConversationView, 200: schemas.ConversationView},
        (*_V1, 409, *_BODY_ERRORS),
        body=CreateConversationRequest,
        idempotent=True,
        links=_CONVERSATION_LINKS,
    ),
    Route(
        "get",
        "/v1/conversations",
        "The conversation list, newest activity first",
        {200: schemas.ConversationPage},
        (*_V1, 400),
        query=ListConversationsQuery,
    ),
    Route(
        "get",
        "/v1/conversations/{conversation_id}",
        "One conversation",
        {200: schemas.ConversationView},
        (*_V1, 404),
    ),
    Route(
        "patch",
        "/v1/conversations/{conversation_id}",
        "Favourite, archive or assign a conversation",
        {200: schemas.ConversationView},
        (*_V1, 403, 404, *_BODY_ERRORS),
        body=UpdateConversationRequest,
    ),
    Route(
        "delete",
        "/v1/conversations/{conversation_id}",
        "Delete a conversation and its messages (admin)",
        {204: None},
        (*_V1, 403, 404),
    ),
    Route(
        "get",
        "/v1/conversations/{conversation_id}/messages",
        "A conversation's messages, newest first",
        {200: schemas.MessagePage},
        (*_V1, 400, 404),
        query=ListMessagesQuery,
    ),
    Route(
        "post",
        "/v1/conversations/{conversation_id}/read",
        "Mark a conversation read (unread count to 0)",
        {200: schemas.ConversationView},
        (*_V1, 404),
    ),
    Route(
        "post",
        "/v1/conversations/{conversation_id}/clear",
        "Clear a conversation's messages (admin)",
        {200: schemas.ConversationView},
        (*_V1, 403, 404),
    ),
    Route(
        "post",
        "/v1/webhook-endpoints",
        "Register a webhook endpoint for events (admin); its secret is shown only here",
        {201: schemas.WebhookEndpointCreated},
        (*_V1, 403, *_BODY_ERRORS),
        body=CreateEndpointRequest,
        links={
            "RotateSecret": _to("post_v1_webhook-endpoints_endpoint_id_rotate-secret", _ENDPOINT),
            "DeleteEndpoint": _to("delete_v1_webhook-endpoints_endpoint_id", _ENDPOINT),
        },
    ),
    Route(
        "get",
        "/v1/webhook-endpoints",
        "The company's webhook endpoints, without secrets (admin)",
        {200: schemas.WebhookEndpointList},
        (*_V1, 403),
    ),
    Route(
        "delete",
        "/v1/webhook-endpoints/{endpoint_id}",
        "Remove a webhook endpoint (admin)",
        {204: None},
        (*_V1, 403, 404),
    ),
    Route(
        "post",
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        "A new signing secret; the old one still signs for 24 hours (admin)",
        {200: schemas.SecretRotated},
        (*_V1, 403, 404),
    ),
    Route(
        "get",
        "/v1/events/stream",
        "The company's events live, as server-sent events (`id:`, `event:`, `data:`; a "
        "comment every 15 s); `Last-Event-ID` replays what came after that event",
        {200: None},
        (*_V1, 400),
        extra_parameters=[
            Parameter.model_validate(
                {
                    "name": name,
                    "in": where,
                    "required": False,
                    "description": "Resume after this event (`evt_...`), replayed from the "
                    "outbox (kept 24 hours at least)",
                    "schema": {"type": "string", "pattern": "^evt_[0-9]{1,18}$"},
                }
            )
            for name, where in (("Last-Event-ID", "header"), ("last_event_id", "query"))
        ],
    ),
    Route(
        "get",
        "/webhooks/whatsapp",
        "The provider's subscription handshake: echoes hub.challenge",
        {200: None},
        (403,),
        public=True,
        extra_parameters=[
            Parameter.model_validate(
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
            )
            for name in ("hub.mode", "hub.verify_token", "hub.challenge")
        ],
    ),
    Route(
        "post",
        "/webhooks/whatsapp",
        "Signed provider callbacks (X-Hub-Signature-256 over the raw body)",
        {200: schemas.WebhookReceived},
        (400, 401, 413),
        body=WebhookPayload,
        public=True,
        extra_parameters=[
            Parameter.model_validate(
                {
                    "name": "X-Hub-Signature-256",
                    "in": "header",
                    "required": True,
                    "description": "`sha256=` and the hex HMAC-SHA256 of the raw body under "
                    "the app secret; checked before anything else (401 if it does not match).",
                    "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
                }
            )
        ],
    ),
]


@bp.get("/openapi.json")
def document() -> Response:
    return jsonify(build_document())


@cache
def build_document() -> dict[str, Any]:
    paths: dict[str, PathItem] = {}
    for route in ROUTES:
        item = paths.setdefault(route.path, PathItem())
        setattr(item, route.method, _operation(route))
    api = OpenAPI(
        info=Info(
            title="wapipe",
            version="1",
            description="A durable, multi-tenant WhatsApp delivery pipeline.",
        ),
        paths=paths,
        webhooks=_event_webhooks(),
        components=Components(
            securitySchemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="An API key")
            },
        ),
    )
    built = construct_open_api_with_schema_class(api)
    document: dict[str, Any] = built.model_dump(by_alias=True, exclude_none=True, mode="json")
    components = document["components"]["schemas"]
    for model in {route.body for route in ROUTES if route.body is not None}:
        openapi_formats.refine_model(model, components[model.__name__])
    describe_send_request(components)
    return document


# What wapipe POSTs to a registered endpoint (Standard Webhooks v1 headers).
_EVENTS = {
    "message.status": (schemas.MessageEvent, "An applied status change of an outbound message"),
    "message.received": (schemas.MessageEvent, "An inbound message"),
    "conversation.updated": (schemas.ConversationEvent, "A conversation changed"),
}


def _event_webhooks() -> dict[str, PathItem]:
    headers = [
        Parameter.model_validate(
            {"name": name, "in": "header", "required": True, "schema": {"type": "string"},
             "description": meaning}
        )
        for name, meaning in (
            ("webhook-id", "The event id (`evt_...`), the same on every retry"),
            ("webhook-timestamp", "Unix seconds of this attempt"),
            ("webhook-signature", "`v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` "
             "under the secret's decoded bytes; space-separated during a rotation"),
        )
    ]  # fmt: skip
    return {
        name: PathItem(
            post=Operation(
                summary=summary,
                operationId=f"event_{name.replace('.', '_')}",
                parameters=headers,
                requestBody=RequestBody(
                    required=True, content={"application/json": MediaType(schema=_ref(model))}
                ),
                responses={"2XX": OpenAPIResponse(description="Received; any other answer "
                                                  "is retried on Svix's schedule")},
            )
        )
        for name, (model, summary) in _EVENTS.items()
    }  # fmt: skip


def _operation(route: Route) -> Operation:
    responses: dict[str, OpenAPIResponse] = {}
    for status, model in route.responses.items():
        responses[str(status)] = _success(route, status, model)
    for status in route.errors:
        responses[str(status)] = OpenAPIResponse(
            description=ERROR_MEANINGS[status],
            content={"application/json": MediaType(schema=_ref(schemas.ErrorResponse))},
        )
    parameters = [*_path_parameters(route.path), *route.extra_parameters]
    if route.query is not None:
        parameters.extend(_query_parameters(route.query))
    if route.idempotent:
        parameters.append(_IDEMPOTENCY_PARAMETER)
    body = _UPLOAD_BODY if route.upload else None
    if route.body is not None:
        body = RequestBody(
            required=True, content={"application/json": MediaType(schema=_ref(route.body))}
        )
    return Operation(
        summary=route.summary,
        operationId=route.operation_id,
        parameters=parameters or None,
        requestBody=body,
        responses=responses,
        security=None if route.public else [{"bearer": []}],
    )


_UPLOAD_BODY = RequestBody(
    required=True,
    content={
        "multipart/form-data": MediaType(
            schema=Schema.model_validate(
                {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            )
        )
    },
)

# Answered in text: the subscription handshake's challenge, and Prometheus' format.
_PLAIN_TEXT = {"/webhooks/whatsapp", "/metrics"}
# Each event's `data:` is a MessageEvent or ConversationEvent (see `webhooks`).
_EVENT_STREAM = "/v1/events/stream"
# Answered with the media's own bytes and type.
_BINARY = {"/v1/media/{media_id}"}


def _success(route: Route, status: int, model: type[BaseModel] | None) -> OpenAPIResponse:
    if status == 204:
        return OpenAPIResponse(description="Done; no content")
    if route.path in _PLAIN_TEXT and route.method == "get":
        content = {"text/plain": MediaType(schema=Schema(type="string"))}
    elif route.path == _EVENT_STREAM:
        content = {"text/event-stream": MediaType(schema=Schema(type="string"))}
    elif route.path in _BINARY:
        content = {"*/*": MediaType(schema=Schema(type="string", format="binary"))}
    elif model is None:
        content = {"application/json": MediaType(schema=Schema(type="object"))}
    else:
        content = {"application/json": MediaType(schema=_ref(model))}
    links = {
        name: Link(operationId=target, parameters=dict(parameters))
        for name, (target, parameters) in route.links.items()
    }
    return OpenAPIResponse(description="OK", content=content, links=links or None)


def _ref(model: type[BaseModel]) -> PydanticSchema[BaseModel]:
    return PydanticSchema(schema_class=model)


# Path parameters that are not our uuids: a provider's media id.
_PATH_SCHEMAS = {"media_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}}


def _path_parameters(path: str) -> list[Parameter]:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    return [
        Parameter.model_validate(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _PATH_SCHEMAS.get(name, {"type": "string", "format": "uuid"}),
            }
        )
        for name in names
    ]


# Which list each query model pages: a cursor is only good for the list that gave it out.
_CURSORS = {ListConversationsQuery: "conversations", ListMessagesQuery: "messages"}


def _query_parameters(model: type[BaseModel]) -> list[Parameter]:
    """One query parameter per field of the model the view validates the query string with."""
    properties = model.model_json_schema()["properties"]
    parameters = []
    for name, info in model.model_fields.items():
        enforced = openapi_formats.enforced(model, name)
        if name == "cursor":
            enforced = openapi_formats.cursor(_CURSORS[model])
        schema = openapi_formats.refine(openapi_formats.without_null(properties[name]), enforced)
        parameters.append(
            Parameter.model_validate(
                {
                    "name": name,
                    "in": "query",
                    "required": info.is_required(),
                    "description": info.description,
                    "schema": schema_validate(schema),
                }
            )
        )
    return parameters


_IDEMPOTENCY_PARAMETER = Parameter.model_validate(
    {
        "name": IDEMPOTENCY_HEADER,
        "in": "header",
        "required": False,
        "description": "Repeat a request safely: the same key and body get the first answer, "
        "a different body gets 409 IDEMPOTENCY_CONFLICT. Kept 24 hours, per company.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            # Printable ASCII, not starting or ending with a space (a header's ends are trimmed).
            "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$",
        },
    }
)
