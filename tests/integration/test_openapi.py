"""The OpenAPI document: every route, our errors, and what the API enforces.

schemathesis runs against it in tests/fuzz (a real gunicorn); here the document itself.
"""

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.api import openapi_formats
from pipeline.domain.errors import ValidationError
from pipeline.domain.fields import storable_text, visible_text
from pipeline.domain.phones import normalize_phone
from pipeline.services.conversation_queries import (
    _decode_conversation_cursor,
    _decode_message_cursor,
)
from tests.conftest import Tenant
from tests.fuzz import formats
from webhooks import receiver


def _document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.get_json()
    return document


def test_the_document_is_openapi_3_and_covers_every_route(client: FlaskClient, app: Flask) -> None:
    document = _document(client)
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "put", "delete"}
    }
    served = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        # The inbox's pages are HTML for browsers (README, The inbox), not the JSON API.
        if rule.endpoint != "static" and not rule.endpoint.startswith("inbox.")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    served.add(("POST", receiver.PATH))  # served in front of Flask (webhooks/receiver.py)
    assert documented == served


def test_the_document_declares_our_errors_and_bearer_auth(client: FlaskClient) -> None:
    document = _document(client)
    assert "422" not in json.dumps(document["paths"])
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key",
    }
    send = document["paths"]["/v1/messages"]["post"]
    assert {"202", "400", "401", "404", "409", "413", "415"} <= set(send["responses"])
    assert send["security"] == [{"bearer": []}]
    assert "Idempotency-Key" in {p["name"] for p in send["parameters"]}
    patch = document["paths"]["/v1/conversations/{conversation_id}"]["patch"]
    assert {"200", "400", "401", "403", "404"} <= set(patch["responses"])
    listing = document["paths"]["/v1/conversations"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "filter",
        "archived",
        "assigned",
        "q",
        "limit",
        "cursor",
    }
    # The request schemas are the pydantic models the views validate with.
    body = document["components"]["schemas"]["CreateConversationRequest"]
    assert body["additionalProperties"] is False
    assert body["required"] == ["to"]


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
def test_public_documents_need_no_key(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200


def _operation_ids(document: dict[str, Any]) -> set[str]:
    return {op["operationId"] for item in document["paths"].values() for op in item.values()}


def test_a_created_message_links_to_its_get_and_retry(client: FlaskClient) -> None:
    document = _document(client)
    links = document["paths"]["/v1/messages"]["post"]["responses"]["202"]["links"]
    assert links["GetMessage"] == {
        "operationId": "get_v1_messages_message_id",
        "parameters": {"message_id": "$response.body#/id"},
    }
    assert links["RetryMessage"]["operationId"] == "post_v1_messages_message_id_retry"
    created = document["paths"]["/v1/conversations"]["post"]["responses"]
    assert created["201"]["links"] == created["200"]["links"]
    targets = {link["operationId"] for link in created["201"]["links"].values()}
    targets |= {link["operationId"] for link in links.values()}
    assert targets <= _operation_ids(document)
    assert len(targets) == 8


def test_the_document_names_the_phone_and_cursor_formats(client: FlaskClient) -> None:
    document = _document(client)
    schemas = document["components"]["schemas"]
    assert schemas["CreateConversationRequest"]["properties"]["to"]["format"] == "phone"
    variants = schemas["SendMessageRequest"]["oneOf"]  # one per message type
    assert all(variant["properties"]["to"]["format"] == "phone" for variant in variants)
    text_options = variants[0]["properties"]["text"]["anyOf"]
    plain_text = next(option for option in text_options if option.get("type") == "string")
    assert plain_text["pattern"] == openapi_formats.VISIBLE
    cursors = {
        path: next(p["schema"] for p in document["paths"][path]["get"]["parameters"]
                   if p["name"] == "cursor")
        for path in ("/v1/conversations", "/v1/conversations/{conversation_id}/messages")
    }  # fmt: skip
    assert cursors["/v1/conversations"]["format"] == "conversations-cursor"
    assert cursors["/v1/conversations/{conversation_id}/messages"]["format"] == "messages-cursor"
    key = next(
        p for p in document["paths"]["/v1/messages"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )  # fmt: skip
    assert key["schema"]["pattern"].startswith("^[\\x21-\\x7e]")


def _accepts(validator: Any, value: str) -> bool:
    try:
        validator(value)
    except ValueError:
        return False
    return True


# Every character Python counts as whitespace, a few it does not, and NUL.
_TRICKY = st.text(
    alphabet=st.sampled_from("\t\n\x0b\x0c\r\x1c\x1f \x85\xa0\u1680\u2007\u2028\u3000"
                             "\ufeff\u200b\x00a\u00e9\U0001f600"),
    max_size=6,
)  # fmt: skip


@settings(max_examples=300, derandomize=True, database=None)
@given(value=_TRICKY)
def test_the_text_patterns_refuse_exactly_what_the_validators_refuse(value: str) -> None:
    visible = re.search(openapi_formats.VISIBLE, value) is not None
    storable = re.search(openapi_formats.NO_NUL, value) is not None
    assert visible == _accepts(visible_text, value)
    assert storable == _accepts(storable_text, value)


@settings(max_examples=100, derandomize=True, database=None)
@given(phone=formats.phones, conversation=formats.conversation_cursors,
       message=formats.message_cursors)  # fmt: skip
def test_values_of_the_named_formats_are_accepted(
    phone: str, conversation: str, message: str
) -> None:
    # What the fuzzer sends as valid must be valid: else its "valid data refused" is ours.
    assert normalize_phone(phone).startswith("+")
    assert len(phone) <= 64
    _decode_conversation_cursor(conversation)
    _decode_message_cursor(message)
    with pytest.raises(ValidationError):
        _decode_message_cursor(conversation)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/v1/messages", {"POST"}),
        ("PUT", "/v1/conversations/{id}", {"GET", "PATCH", "DELETE"}),
        ("DELETE", "/webhooks/whatsapp", {"GET", "POST"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
def test_a_405_names_the_allowed_methods(
    client: FlaskClient, tenant: Tenant, method: str, path: str, allowed: set[str]
) -> None:
    path = path.replace("{id}", "00000000-0000-0000-0000-000000000000")
    response = client.open(path, method=method, headers=tenant.auth)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert allowed <= set(response.headers["Allow"].split(", "))
