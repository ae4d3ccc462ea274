import json
import re
import time
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from pipeline.bootstrap import Container
from tests.conftest import Tenant
from tests.support import new_phone
from webhooks import receiver

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


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
        if rule.endpoint != "static"
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


def _seed(client: FlaskClient, tenant: Tenant, container: Container) -> dict[str, str]:
    """Real rows, so the fuzzer also sees 200s with full items, errors and history."""
    phone = new_phone()
    client.post("/v1/conversations", json={"to": phone, "name": "Fuzz"}, headers=tenant.auth)
    sent = client.post(
        "/v1/messages", json={"to": phone, "text": "hello"}, headers=tenant.auth
    ).get_json()
    with container.db.transaction() as session:
        session.execute(
            text(
                "UPDATE messages SET status = 'failed', error_code = '131026', "
                "error_title = 'Message undeliverable', failed_at = now() WHERE id = :id"
            ),
            {"id": sent["id"]},
        )
    return {"conversation_id": sent["conversation_id"], "message_id": sent["id"]}


def test_fuzzing_every_operation_finds_no_5xx_and_no_response_off_the_schema(
    live_url: str, tenant: Tenant, client: FlaskClient, container: Container
) -> None:
    # A real key, so the generated requests reach the handlers instead of stopping at 401.
    # Bounded: 15 examples per operation and pass, about half a minute in all.
    real_ids = _seed(client, tenant, container)
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert {"POST /v1/messages", "PATCH /v1/conversations/{conversation_id}"} <= labels
    assert len(labels) >= 15  # the schema's own URL may be left out by schemathesis
    for operation in operations:
        for mode, path_parameters in _passes(operation, real_ids):

            @given(
                case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            )
            @settings(
                max_examples=15,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Case) -> None:
                case.call_and_validate(
                    base_url=live_url, headers=tenant.auth, checks=CHECKS, timeout=10
                )

            call()
    assert time.monotonic() - started < 60


def _passes(
    operation: APIOperation, real_ids: dict[str, str]
) -> list[tuple[GenerationMode, dict[str, str] | None]]:
    passes: list[tuple[GenerationMode, dict[str, str] | None]] = [(GenerationMode.POSITIVE, None)]
    # Invalid inputs too, wherever there are inputs to break.
    if any(len(p) for p in (operation.path_parameters, operation.query, operation.body)):
        passes.append((GenerationMode.NEGATIVE, None))
    # Random ids only ever find 404s; real ones reach the handlers (deleting them would
    # leave nothing for the others, so DELETE keeps to random ids).
    if len(operation.path_parameters) and operation.method.lower() != "delete":
        names = [parameter.name for parameter in operation.path_parameters]
        passes.append((GenerationMode.POSITIVE, {name: real_ids[name] for name in names}))
    return passes


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json"])
def test_public_documents_need_no_key(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 200
