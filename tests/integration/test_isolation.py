"""A second company's key sees none of the first company's conversations, messages or users."""

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text

from pipeline.bootstrap import Container
from tests.conftest import Member, Tenant
from tests.support import new_phone


def _first_company_data(
    client: FlaskClient, tenant: Tenant, agent: Member, container: Container
) -> dict[str, Any]:
    phone = new_phone()
    sent = client.post(
        "/v1/messages", json={"to": phone, "text": "private"}, headers=tenant.auth
    ).get_json()
    conversation_id = sent["conversation_id"]
    client.patch(
        f"/v1/conversations/{conversation_id}",
        json={"is_favorite": True, "assigned_user_id": str(agent.user_id)},
        headers=tenant.auth,
    )
    with container.db.transaction() as session:
        session.execute(
            text("UPDATE conversations SET unread_count = 1 WHERE id = :id"),
            {"id": conversation_id},
        )
        session.execute(
            text("UPDATE contacts SET is_group = true, name = 'Secret Group' WHERE id = :id"),
            {"id": sent["contact_id"]},
        )
    return {"phone": phone, "message_id": sent["id"], "conversation_id": conversation_id}


def test_every_endpoint_answers_404_for_another_companys_ids(
    client: FlaskClient,
    tenant: Tenant,
    other_tenant: Tenant,
    agent: Member,
    container: Container,
) -> None:
    data = _first_company_data(client, tenant, agent, container)
    conversation = f"/v1/conversations/{data['conversation_id']}"
    message = f"/v1/messages/{data['message_id']}"
    attempts = [
        client.get(conversation, headers=other_tenant.auth),
        client.get(f"{conversation}/messages", headers=other_tenant.auth),
        client.post(f"{conversation}/read", headers=other_tenant.auth),
        client.patch(conversation, json={"is_favorite": False}, headers=other_tenant.auth),
        client.patch(conversation, json={"assigned_user_id": None}, headers=other_tenant.auth),
        client.post(f"{conversation}/clear", headers=other_tenant.auth),
        client.delete(conversation, headers=other_tenant.auth),
        client.get(message, headers=other_tenant.auth),
        client.post(f"{message}/retry", headers=other_tenant.auth),
        client.post(
            "/v1/messages",
            json={"to": new_phone(), "text": "x", "reply_to": data["message_id"]},
            headers=other_tenant.auth,
        ),
    ]
    for response in attempts:
        assert response.status_code == 404, (response.request.path, response.get_json())
        assert response.get_json()["error"]["code"] == "NOT_FOUND"

    # Nothing the second company tried changed the first company's conversation.
    shown = client.get(conversation, headers=tenant.auth).get_json()
    assert (shown["is_favorite"], shown["unread_count"]) == (True, 1)
    assert shown["assigned_user_id"] == str(agent.user_id)
    assert client.get(message, headers=tenant.auth).get_json()["deleted_at"] is None


def test_another_companys_user_cannot_be_assigned(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, agent: Member
) -> None:
    theirs = client.post(
        "/v1/conversations", json={"to": new_phone()}, headers=other_tenant.auth
    ).get_json()
    response = client.patch(
        f"/v1/conversations/{theirs['id']}",
        json={"assigned_user_id": str(agent.user_id)},
        headers=other_tenant.auth,
    )
    assert response.status_code == 404


def test_lists_never_include_another_companys_conversations(
    client: FlaskClient,
    tenant: Tenant,
    other_tenant: Tenant,
    agent: Member,
    container: Container,
) -> None:
    data = _first_company_data(client, tenant, agent, container)
    own = client.post("/v1/conversations", json={"to": data["phone"]}, headers=other_tenant.auth)
    # The same phone is a different contact and conversation in the other company.
    assert own.status_code == 201
    own_id = own.get_json()["id"]
    assert own_id != data["conversation_id"]
    queries: list[dict[str, str]] = [
        {},
        {"filter": "unread"},
        {"filter": "favorites"},
        {"filter": "groups"},
        {"archived": "true"},
        {"assigned": str(agent.user_id)},
        {"assigned": "none"},
        {"q": data["phone"]},
        {"q": "secret"},
    ]
    for query in queries:
        response = client.get("/v1/conversations", query_string=query, headers=other_tenant.auth)
        assert response.status_code == 200
        listed = [item["id"] for item in response.get_json()["items"]]
        assert data["conversation_id"] not in listed, query
    everything = client.get("/v1/conversations", headers=other_tenant.auth).get_json()
    assert [item["id"] for item in everything["items"]] == [own_id]
    # And the first company still sees only its own.
    first = client.get("/v1/conversations", headers=tenant.auth).get_json()
    assert [item["id"] for item in first["items"]] == [data["conversation_id"]]
