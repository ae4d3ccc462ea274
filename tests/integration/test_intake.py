import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from db.models import Contact, Conversation, Message, MessageStatusEvent
from pipeline.bootstrap import Container
from tests.conftest import Tenant
from tests.support import new_phone


def _count(container: Container, model: type, **where: object) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    with container.db.transaction() as session:
        return int(session.scalar(query) or 0)


def test_a_message_is_accepted_with_contact_and_conversation(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()
    response = client.post("/v1/messages", json={"to": phone, "text": "hi"}, headers=tenant.auth)
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "sending"
    assert body["created_contact"] is True
    assert body["created_conversation"] is True
    with container.db.transaction() as session:
        message = session.get(Message, uuid.UUID(body["id"]))
        assert message is not None
        assert message.to_phone == phone
        assert message.company_id == tenant.company_id
        conversation = session.get(Conversation, message.conversation_id)
        assert conversation is not None
        assert conversation.last_message_id == message.id
        assert conversation.last_message_preview == "hi"

    again = client.post("/v1/messages", json={"to": phone, "text": "2"}, headers=tenant.auth)
    second = again.get_json()
    assert second["created_contact"] is False
    assert second["created_conversation"] is False
    assert second["conversation_id"] == body["conversation_id"]


def test_a_phone_in_another_format_is_the_same_contact(client: FlaskClient, tenant: Tenant) -> None:
    first = client.post(
        "/v1/messages", json={"to": "+1 650-555-0199", "text": "a"}, headers=tenant.auth
    ).get_json()
    second = client.post(
        "/v1/messages", json={"to": "001 (650) 555 0199", "text": "b"}, headers=tenant.auth
    ).get_json()
    assert first["contact_id"] == second["contact_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "650 555 0142", "text": "hi"}, "to"),
        ({"to": "+999 1", "text": "hi"}, "to"),
        ({"to": "+16505550142", "text": ""}, "text"),
        ({"to": "+16505550142", "text": "   "}, "text"),
        ({"to": "+16505550142", "text": "x" * 4097}, "text"),
        ({"to": "+16505550142"}, "text"),
        ({"text": "hi"}, "to"),
        ({"to": "+16505550142", "text": "hi", "reply_to": "nope"}, "reply_to"),
        ({"to": "+16505550142", "text": "hi", "extra": 1}, "extra"),
        ({"to": 16505550142, "text": "hi"}, "to"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(
    client: FlaskClient, tenant: Tenant, container: Container, body: dict[str, object], field: str
) -> None:
    response = client.post("/v1/messages", json=body, headers=tenant.auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]
    assert _count(container, Message, company_id=tenant.company_id) == 0


def test_text_of_exactly_4096_code_points_is_accepted(client: FlaskClient, tenant: Tenant) -> None:
    text_4096 = "é" * 4095 + "😀"  # 4096 code points, more bytes
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": text_4096}, headers=tenant.auth
    )
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("not json", "application/json", 400),
        ("[1, 2]", "application/json", 400),
        ('{"to": "+16505550142", "text": "hi"}', "text/plain", 415),
    ],
)
def test_malformed_bodies_get_clear_errors(
    client: FlaskClient, tenant: Tenant, data: str, content_type: str, status: int
) -> None:
    response = client.post(
        "/v1/messages", data=data, content_type=content_type, headers=tenant.auth
    )
    assert response.status_code == status
    assert set(response.get_json()["error"]) == {"code", "message", "details"}


def test_an_oversized_body_is_a_413(client: FlaskClient, tenant: Tenant) -> None:
    body = '{"to": "+16505550142", "text": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = client.post(
        "/v1/messages", data=body, content_type="application/json", headers=tenant.auth
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer wap_nope", "Basic abc", "wap_x", "Bearer  "]
)
def test_requests_without_a_valid_key_are_401(client: FlaskClient, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.post(
        "/v1/messages", json={"to": "+16505550142", "text": "x"}, headers=headers
    )
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "UNAUTHORIZED"


def test_another_companys_message_is_404(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    sent = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "x"}, headers=tenant.auth
    ).get_json()
    for method, path in [("get", ""), ("post", "/retry")]:
        response = getattr(client, method)(
            f"/v1/messages/{sent['id']}{path}", headers=other_tenant.auth
        )
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "NOT_FOUND"
    reply = client.post(
        "/v1/messages",
        json={"to": new_phone(), "text": "x", "reply_to": sent["id"]},
        headers=other_tenant.auth,
    )
    assert reply.status_code == 404
    assert "reply_to" in reply.get_json()["error"]["details"]


def test_get_returns_the_message_with_its_history(client: FlaskClient, tenant: Tenant) -> None:
    sent = client.post(
        "/v1/messages", json={"to": "+16505550142", "text": "hello"}, headers=tenant.auth
    ).get_json()
    message = client.get(f"/v1/messages/{sent['id']}", headers=tenant.auth).get_json()
    assert message["to"] == "+16505550142"
    assert message["text"] == "hello"
    assert message["direction"] == "outbound"
    assert message["error"] is None
    assert message["history"][0] == {
        "status": "sending",
        "at": message["created_at"],
        "source": "intake",
        "applied": True,
    }


def test_retry_of_a_message_that_has_not_failed_is_409(client: FlaskClient, tenant: Tenant) -> None:
    sent = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "x"}, headers=tenant.auth
    ).get_json()
    response = client.post(f"/v1/messages/{sent['id']}/retry", headers=tenant.auth)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "CONFLICT"


def test_a_failure_mid_transaction_leaves_nothing(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    # A real database failure at the last write of the intake statement (the history row),
    # after the contact, conversation and message rows were written in the same statement.
    marker = f"boom-{uuid.uuid4().hex}"
    with container.db.transaction() as session:
        session.execute(
            text(f"""
            CREATE OR REPLACE FUNCTION fail_{marker[5:]}() RETURNS trigger AS $$
            BEGIN
              IF EXISTS (SELECT 1 FROM messages WHERE id = NEW.message_id AND text = '{marker}')
              THEN RAISE EXCEPTION 'injected failure';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql;
            CREATE TRIGGER t_{marker[5:]} BEFORE INSERT ON message_status_history
              FOR EACH ROW EXECUTE FUNCTION fail_{marker[5:]}();
            """)
        )
    phone = new_phone()
    try:
        response = client.post(
            "/v1/messages", json={"to": phone, "text": marker}, headers=tenant.auth
        )
    finally:
        with container.db.transaction() as session:
            session.execute(text(f"DROP TRIGGER t_{marker[5:]} ON message_status_history"))
    assert response.status_code == 500
    assert response.get_json() == {
        "error": {"code": "INTERNAL", "message": "internal error", "details": None}
    }
    assert _count(container, Contact, company_id=tenant.company_id, phone=phone) == 0
    assert _count(container, Conversation, company_id=tenant.company_id) == 0
    assert _count(container, Message, company_id=tenant.company_id) == 0


def test_concurrent_first_messages_to_one_phone_make_one_contact_and_conversation(
    live_url: str, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()

    def send(i: int) -> httpx.Response:
        return httpx.post(
            f"{live_url}/v1/messages",
            json={"to": phone, "text": f"m{i}"},
            headers=tenant.auth,
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(send, range(50)))
    assert [r.status_code for r in responses] == [202] * 50
    bodies = [r.json() for r in responses]
    assert len({b["conversation_id"] for b in bodies}) == 1
    assert len({b["contact_id"] for b in bodies}) == 1
    assert sum(b["created_contact"] for b in bodies) == 1
    assert sum(b["created_conversation"] for b in bodies) == 1
    assert _count(container, Contact, company_id=tenant.company_id, phone=phone) == 1
    assert _count(container, Message, company_id=tenant.company_id) == 50
    ids = [uuid.UUID(b["id"]) for b in bodies]
    with container.db.transaction() as session:
        history = session.scalar(
            select(func.count())
            .select_from(MessageStatusEvent)
            .where(MessageStatusEvent.message_id.in_(ids))
        )
    assert history == 50
