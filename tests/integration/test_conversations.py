import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from db.models import Contact, Conversation, Message
from fakeprovider import FakeProvider
from pipeline.bootstrap import Container
from pipeline.services.conversation_queries import FEW_CONTACTS
from pipeline.services.delivery import Outcome
from tests.conftest import Member, Tenant
from tests.support import new_phone

Auth = dict[str, str]


def create(client: FlaskClient, auth: Auth, phone: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/conversations", json={"to": phone, **extra}, headers=auth)
    assert response.status_code in (200, 201), response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def send(client: FlaskClient, auth: Auth, phone: str, message: str = "hi") -> dict[str, Any]:
    response = client.post("/v1/messages", json={"to": phone, "text": message}, headers=auth)
    assert response.status_code == 202, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def listing(client: FlaskClient, auth: Auth, **params: Any) -> dict[str, Any]:
    response = client.get("/v1/conversations", query_string=params, headers=auth)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def sql(container: Container, statement: str, **params: Any) -> None:
    with container.db.transaction() as session:
        session.execute(text(statement), params)


def message(client: FlaskClient, auth: Auth, message_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/messages/{message_id}", headers=auth).get_json()
    return body


# Create-or-find


def test_creating_a_conversation_returns_201_then_200_with_the_same_one(
    client: FlaskClient, tenant: Tenant
) -> None:
    phone = new_phone()
    first = client.post("/v1/conversations", json={"to": phone, "name": "Ana"}, headers=tenant.auth)
    assert first.status_code == 201
    body = first.get_json()
    assert body["contact"] == {
        "id": body["contact"]["id"],
        "name": "Ana",
        "phone": phone,
        "is_group": False,
    }
    assert body["last_message"] is None
    assert body["unread_count"] == 0
    assert (body["is_favorite"], body["is_archived"], body["assignee"]) == (False, False, None)

    again = client.post(
        "/v1/conversations", json={"to": phone.replace("+", "00")}, headers=tenant.auth
    )
    assert again.status_code == 200
    assert again.get_json()["id"] == body["id"]
    assert again.get_json()["contact"]["name"] == "Ana"


def test_a_message_and_create_or_find_share_one_conversation(
    client: FlaskClient, tenant: Tenant
) -> None:
    phone = new_phone()
    sent = send(client, tenant.auth, phone, "first words")
    found = client.post("/v1/conversations", json={"to": phone}, headers=tenant.auth)
    assert found.status_code == 200
    body = found.get_json()
    assert body["id"] == sent["conversation_id"]
    assert body["last_message"]["id"] == sent["id"]
    assert body["last_message"]["preview"] == "first words"
    assert body["last_message"]["status"] == "sending"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": "650 555 0142"}, "to"),
        ({}, "to"),
        ({"to": "+16505550142", "name": "   "}, "name"),
        ({"to": "+16505550142", "name": "x" * 201}, "name"),
        ({"to": "+16505550142", "nickname": "x"}, "nickname"),
        ({"to": "+16505550142", "name": "nul\x00byte"}, "name"),
    ],
)
def test_bad_create_requests_are_400_and_write_nothing(
    client: FlaskClient, tenant: Tenant, container: Container, body: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/conversations", json=body, headers=tenant.auth)
    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]
    with container.db.transaction() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.company_id == tenant.company_id)
        )
    assert count == 0


def test_concurrent_identical_creates_make_one_contact_and_one_conversation(
    live_url: str, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()

    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{live_url}/v1/conversations", json={"to": phone}, headers=tenant.auth, timeout=30
        )

    with ThreadPoolExecutor(max_workers=25) as pool:
        responses = list(pool.map(post, range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    with container.db.transaction() as session:
        contacts = session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(Contact.company_id == tenant.company_id, Contact.phone == phone)
        )
        conversations = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.company_id == tenant.company_id)
        )
    assert (contacts, conversations) == (1, 1)


# Listing


def test_the_list_shows_newest_activity_first_with_everything_a_chat_list_needs(
    client: FlaskClient, tenant: Tenant, container: Container, agent: Member
) -> None:
    older, newer = new_phone(), new_phone()
    create(client, tenant.auth, older, name="Older")
    sent = send(client, tenant.auth, newer, "latest news")
    sql(
        container,
        "UPDATE conversations SET unread_count = 2, assigned_user_id = :u WHERE id = :id",
        u=agent.user_id,
        id=sent["conversation_id"],
    )
    page = listing(client, tenant.auth)
    assert [item["contact"]["phone"] for item in page["items"]] == [newer, older]
    assert page["next_cursor"] is None
    top = page["items"][0]
    assert top["last_message"] == {
        "id": sent["id"],
        "preview": "latest news",
        "at": top["activity_at"],
        "status": "sending",
        "direction": "outbound",
    }
    assert top["unread_count"] == 2
    assert top["assignee"]["id"] == str(agent.user_id)
    assert top["assignee"]["name"].startswith("agent")
    assert top["assigned_user_id"] == str(agent.user_id)
    assert top["contact"]["is_group"] is False
    assert page["items"][1]["contact"]["name"] == "Older"


def test_filters_pick_unread_favorites_and_groups(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    plain, unread, favorite, group = (create(client, tenant.auth, new_phone()) for _ in range(4))
    sql(container, "UPDATE conversations SET unread_count = 1 WHERE id = :id", id=unread["id"])
    sql(container, "UPDATE contacts SET is_group = true WHERE id = :id", id=group["contact"]["id"])
    patched = client.patch(
        f"/v1/conversations/{favorite['id']}", json={"is_favorite": True}, headers=tenant.auth
    )
    assert patched.status_code == 200
    assert ids(listing(client, tenant.auth, filter="unread")) == [unread["id"]]
    assert ids(listing(client, tenant.auth, filter="favorites")) == [favorite["id"]]
    groups = listing(client, tenant.auth, filter="groups")
    assert ids(groups) == [group["id"]]
    assert groups["items"][0]["contact"]["is_group"] is True
    assert set(ids(listing(client, tenant.auth, filter="all"))) == {
        plain["id"],
        unread["id"],
        favorite["id"],
        group["id"],
    }


def test_archived_conversations_are_their_own_list(client: FlaskClient, tenant: Tenant) -> None:
    kept, archived = (
        create(client, tenant.auth, new_phone()),
        create(client, tenant.auth, new_phone()),
    )
    response = client.patch(
        f"/v1/conversations/{archived['id']}", json={"is_archived": True}, headers=tenant.auth
    )
    assert response.get_json()["is_archived"] is True
    assert ids(listing(client, tenant.auth)) == [kept["id"]]
    assert ids(listing(client, tenant.auth, archived="true")) == [archived["id"]]
    client.patch(
        f"/v1/conversations/{archived['id']}", json={"is_archived": False}, headers=tenant.auth
    )
    assert set(ids(listing(client, tenant.auth, archived="false"))) == {kept["id"], archived["id"]}


def test_assigned_filter_takes_me_none_or_a_user_id(
    client: FlaskClient, tenant: Tenant, agent: Member
) -> None:
    mine, released, nobodys = (create(client, tenant.auth, new_phone()) for _ in range(3))
    for conversation in (mine, released):
        client.patch(
            f"/v1/conversations/{conversation['id']}",
            json={"assigned_user_id": str(agent.user_id)},
            headers=tenant.auth,
        )
    let_go = client.patch(
        f"/v1/conversations/{released['id']}", json={"assigned_user_id": None}, headers=agent.auth
    )
    assert let_go.status_code == 200
    assert ids(listing(client, agent.auth, assigned="me")) == [mine["id"]]
    assert ids(listing(client, tenant.auth, assigned=str(agent.user_id))) == [mine["id"]]
    none = set(ids(listing(client, tenant.auth, assigned="none")))
    assert none == {released["id"], nobodys["id"]}
    assert ids(listing(client, tenant.auth, assigned=str(uuid.uuid4()))) == []


def test_search_matches_name_or_phone_case_insensitively(
    client: FlaskClient, tenant: Tenant
) -> None:
    ana = create(client, tenant.auth, "+1 650 555 0101", name="Ana María López")
    bob = create(client, tenant.auth, "+44 20 7946 0958", name="Bob 100%")
    nameless = create(client, tenant.auth, "+1 650 555 0177")
    assert ids(listing(client, tenant.auth, q="maría")) == [ana["id"]]
    assert ids(listing(client, tenant.auth, q="LÓPEZ")) == [ana["id"]]
    assert ids(listing(client, tenant.auth, q="7946")) == [bob["id"]]
    assert ids(listing(client, tenant.auth, q="+44 20 79")) == [bob["id"]]
    assert ids(listing(client, tenant.auth, q="(650) 555-01")) == [nameless["id"], ana["id"]]
    # LIKE wildcards in the search are literal characters.
    assert ids(listing(client, tenant.auth, q="100%")) == [bob["id"]]
    assert ids(listing(client, tenant.auth, q="_")) == []
    assert len(ids(listing(client, tenant.auth, q="  "))) == 3


def test_pages_have_no_duplicates_or_gaps_while_messages_arrive(
    client: FlaskClient, tenant: Tenant
) -> None:
    phones = [new_phone() for _ in range(9)]
    convs = [send(client, tenant.auth, phone)["conversation_id"] for phone in phones]
    newest_first = convs[::-1]

    first = listing(client, tenant.auth, limit=3)
    assert ids(first) == newest_first[:3]
    # While the client pages: a seen conversation and an unseen one get messages, and a
    # brand-new conversation starts. All three move to the top, above the cursor.
    send(client, tenant.auth, phones[7])
    send(client, tenant.auth, phones[1])
    newcomer = send(client, tenant.auth, new_phone())["conversation_id"]

    seen = ids(first)
    cursor = first["next_cursor"]
    while cursor is not None:
        page = listing(client, tenant.auth, limit=3, cursor=cursor)
        seen += ids(page)
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen))
    assert seen == [c for c in newest_first if c != convs[1]]
    # What moved during the pass is at the top of a fresh first page.
    assert ids(listing(client, tenant.auth, limit=3)) == [newcomer, convs[1], convs[7]]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "many"},
        {"filter": "starred"},
        {"archived": "maybe"},
        {"assigned": "someone"},
        {"cursor": "not-a-cursor"},
        {"cursor": "eyJzZXEiOjF9"},  # a messages cursor
        {"colour": "red"},
        {"q": "x" * 101},
        {"q": "nul\x00byte"},
    ],
)
def test_bad_list_parameters_are_400(
    client: FlaskClient, tenant: Tenant, params: dict[str, Any]
) -> None:
    response = client.get("/v1/conversations", query_string=params, headers=tenant.auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert set(error["details"]) <= {*params, "cursor"}


# One conversation and its thread


def test_a_conversation_is_404_when_unknown(client: FlaskClient, tenant: Tenant) -> None:
    for path in ("", "/messages"):
        response = client.get(f"/v1/conversations/{uuid.uuid4()}{path}", headers=tenant.auth)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "NOT_FOUND"


def test_messages_come_newest_first_in_pages_with_status_and_error_fields(
    client: FlaskClient, tenant: Tenant
) -> None:
    phone = new_phone()
    sent = [send(client, tenant.auth, phone, f"m{i}") for i in range(5)]
    conversation_id = sent[0]["conversation_id"]
    url = f"/v1/conversations/{conversation_id}/messages"
    first = client.get(url, query_string={"limit": 2}, headers=tenant.auth).get_json()
    assert [m["text"] for m in first["items"]] == ["m4", "m3"]
    assert first["items"][0]["status"] == "sending"
    assert first["items"][0]["error"] is None
    assert first["items"][0]["deleted_at"] is None
    texts = [m["text"] for m in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(
            url, query_string={"limit": 2, "cursor": cursor}, headers=tenant.auth
        ).get_json()
        texts += [m["text"] for m in page["items"]]
        cursor = page["next_cursor"]
    assert texts == ["m4", "m3", "m2", "m1", "m0"]
    shown = client.get(f"/v1/conversations/{conversation_id}", headers=tenant.auth).get_json()
    assert shown["last_message"]["id"] == sent[-1]["id"]


# Actions


def test_marking_read_sets_the_unread_count_to_zero(
    client: FlaskClient, tenant: Tenant, agent: Member, container: Container
) -> None:
    conversation = create(client, tenant.auth, new_phone())
    sql(
        container, "UPDATE conversations SET unread_count = 5 WHERE id = :id", id=conversation["id"]
    )
    response = client.post(f"/v1/conversations/{conversation['id']}/read", headers=agent.auth)
    assert response.status_code == 200
    assert response.get_json()["unread_count"] == 0
    assert response.get_json()["updated_by"] == str(agent.user_id)
    assert ids(listing(client, tenant.auth, filter="unread")) == []


def test_agents_may_favourite_archive_and_take_or_release_their_own_assignment(
    client: FlaskClient, tenant: Tenant, agent: Member
) -> None:
    conversation = create(client, agent.auth, new_phone())
    assert conversation["created_by"] == str(agent.user_id)
    url = f"/v1/conversations/{conversation['id']}"
    flags = client.patch(url, json={"is_favorite": True, "is_archived": True}, headers=agent.auth)
    assert (flags.get_json()["is_favorite"], flags.get_json()["is_archived"]) == (True, True)
    taken = client.patch(url, json={"assigned_user_id": str(agent.user_id)}, headers=agent.auth)
    assert taken.status_code == 200
    assert taken.get_json()["assignee"]["id"] == str(agent.user_id)
    released = client.patch(url, json={"assigned_user_id": None}, headers=agent.auth)
    assert released.status_code == 200
    assert released.get_json()["assignee"] is None


def test_assigning_someone_else_needs_an_admin(
    client: FlaskClient, tenant: Tenant, agent: Member, admin: Member
) -> None:
    conversation = create(client, tenant.auth, new_phone())
    url = f"/v1/conversations/{conversation['id']}"
    refused = client.patch(url, json={"assigned_user_id": str(admin.user_id)}, headers=agent.auth)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "FORBIDDEN"
    assigned = client.patch(url, json={"assigned_user_id": str(agent.user_id)}, headers=admin.auth)
    assert assigned.status_code == 200
    assert assigned.get_json()["updated_by"] == str(admin.user_id)
    # An agent may not unassign a colleague either; the assignment stays.
    other_agent_conversation = create(client, tenant.auth, new_phone())
    other_url = f"/v1/conversations/{other_agent_conversation['id']}"
    client.patch(other_url, json={"assigned_user_id": str(admin.user_id)}, headers=admin.auth)
    unassign = client.patch(other_url, json={"assigned_user_id": None}, headers=agent.auth)
    assert unassign.status_code == 403
    shown = client.get(other_url, headers=tenant.auth).get_json()
    assert shown["assigned_user_id"] == str(admin.user_id)


def test_assigning_a_user_of_another_company_is_404(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, container: Container
) -> None:
    from tests.conftest import make_member

    stranger = make_member(container, other_tenant, "agent")
    conversation = create(client, tenant.auth, new_phone())
    response = client.patch(
        f"/v1/conversations/{conversation['id']}",
        json={"assigned_user_id": str(stranger.user_id)},
        headers=tenant.auth,
    )
    assert response.status_code == 404
    assert "assigned_user_id" in response.get_json()["error"]["details"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"is_favorite": None}, "is_favorite"),
        ({"is_archived": "yes"}, "is_archived"),
        ({"is_favorite": 1}, "is_favorite"),
        ({"assigned_user_id": "me"}, "assigned_user_id"),
        ({"unread_count": 0}, "unread_count"),
    ],
)
def test_bad_patches_are_400(
    client: FlaskClient, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    conversation = create(client, tenant.auth, new_phone())
    response = client.patch(
        f"/v1/conversations/{conversation['id']}", json=body, headers=tenant.auth
    )
    assert response.status_code == 400
    assert field in response.get_json()["error"]["details"]


def test_clearing_hides_messages_cancels_unsent_ones_and_keeps_the_list_position(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()
    unsent = send(client, tenant.auth, phone, "never sent")
    delivered = send(client, tenant.auth, phone, "delivered")
    sql(container, "UPDATE messages SET status = 'delivered' WHERE id = :id", id=delivered["id"])
    conversation_id = unsent["conversation_id"]
    sql(container, "UPDATE conversations SET unread_count = 3 WHERE id = :id", id=conversation_id)
    later = send(client, tenant.auth, new_phone())["conversation_id"]
    assert ids(listing(client, tenant.auth)) == [later, conversation_id]

    cleared = client.post(f"/v1/conversations/{conversation_id}/clear", headers=tenant.auth)
    assert cleared.status_code == 200
    body = cleared.get_json()
    assert (body["last_message"], body["unread_count"]) == (None, 0)
    assert ids(listing(client, tenant.auth)) == [later, conversation_id]
    thread = client.get(f"/v1/conversations/{conversation_id}/messages", headers=tenant.auth)
    assert thread.get_json() == {"items": [], "next_cursor": None}

    cancelled = message(client, tenant.auth, unsent["id"])
    assert cancelled["status"] == "failed"
    assert cancelled["error"]["code"] == "cancelled"
    assert cancelled["deleted_at"] is not None
    assert cancelled["history"][-1]["source"] == "intake"
    kept = message(client, tenant.auth, delivered["id"])
    assert (kept["status"], kept["error"]) == ("delivered", None)
    assert kept["deleted_at"] is not None
    retry = client.post(f"/v1/messages/{unsent['id']}/retry", headers=tenant.auth)
    assert retry.status_code == 409

    after = send(client, tenant.auth, phone, "after the clear")
    thread = client.get(f"/v1/conversations/{conversation_id}/messages", headers=tenant.auth)
    assert [m["id"] for m in thread.get_json()["items"]] == [after["id"]]


def test_deleting_hides_it_and_a_later_message_reopens_it_empty(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone = new_phone()
    unsent = send(client, tenant.auth, phone, "before")
    conversation_id = unsent["conversation_id"]
    url = f"/v1/conversations/{conversation_id}"
    client.patch(url, json={"is_favorite": True}, headers=tenant.auth)

    deleted = client.delete(url, headers=tenant.auth)
    assert deleted.status_code == 204
    assert client.get(url, headers=tenant.auth).status_code == 404
    assert client.delete(url, headers=tenant.auth).status_code == 404
    assert conversation_id not in ids(listing(client, tenant.auth))
    cancelled = message(client, tenant.auth, unsent["id"])
    assert (cancelled["status"], cancelled["error"]["code"]) == ("failed", "cancelled")

    again = send(client, tenant.auth, phone, "after")
    assert again["conversation_id"] == conversation_id
    assert again["created_conversation"] is False
    reopened = client.get(url, headers=tenant.auth).get_json()
    assert reopened["is_favorite"] is False
    assert reopened["last_message"]["preview"] == "after"
    assert ids(listing(client, tenant.auth))[0] == conversation_id
    thread = client.get(f"{url}/messages", headers=tenant.auth).get_json()
    assert [m["text"] for m in thread["items"]] == ["after"]


def test_create_or_find_reopens_a_deleted_conversation_as_new(
    client: FlaskClient, tenant: Tenant
) -> None:
    phone = new_phone()
    first = create(client, tenant.auth, phone)
    assert client.delete(f"/v1/conversations/{first['id']}", headers=tenant.auth).status_code == 204
    reopened = client.post("/v1/conversations", json={"to": phone}, headers=tenant.auth)
    assert reopened.status_code == 201
    assert reopened.get_json()["id"] == first["id"]
    assert (
        client.post("/v1/conversations", json={"to": phone}, headers=tenant.auth).status_code == 200
    )


def test_clearing_and_deleting_need_an_admin(
    client: FlaskClient, tenant: Tenant, agent: Member, container: Container
) -> None:
    phone = new_phone()
    sent = send(client, agent.auth, phone)
    url = f"/v1/conversations/{sent['conversation_id']}"
    for response in (
        client.post(f"{url}/clear", headers=agent.auth),
        client.delete(url, headers=agent.auth),
    ):
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "FORBIDDEN"
    assert message(client, agent.auth, sent["id"])["status"] == "sending"
    assert client.get(f"{url}/messages", headers=agent.auth).get_json()["items"] != []
    with container.db.transaction() as session:
        hidden = session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.id == uuid.UUID(sent["id"]), Message.deleted_at.is_not(None))
        )
    assert hidden == 0


def test_a_nul_character_in_a_message_is_a_400_not_a_database_error(
    client: FlaskClient, tenant: Tenant
) -> None:
    # Found by the schemathesis run: PostgreSQL text cannot hold NUL.
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "a\x00b"}, headers=tenant.auth
    )
    assert response.status_code == 400
    assert "text" in response.get_json()["error"]["details"]


def test_an_unsent_message_of_a_deleted_conversation_is_never_sent(
    client: FlaskClient, tenant: Tenant, container: Container, fake_provider: FakeProvider
) -> None:
    sent = send(client, tenant.auth, new_phone(), "too late")
    assert (
        client.delete(
            f"/v1/conversations/{sent['conversation_id']}", headers=tenant.auth
        ).status_code
        == 204
    )
    # The delivery job is still queued; when a worker gets to it, nothing goes out.
    result = container.deliverer.deliver(uuid.UUID(sent["id"]))
    assert result.outcome == Outcome.SKIPPED
    assert fake_provider.state.sends_for(sent["id"])["count"] == 0
    assert message(client, tenant.auth, sent["id"])["status"] == "failed"


def test_a_search_matching_many_contacts_pages_in_order_like_a_rare_one(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    # Over FEW_CONTACTS matches the list is walked in order instead of starting from the
    # matching contacts; both paths must give the same pages.
    crowd = FEW_CONTACTS + 50
    sql(
        container,
        """
        WITH c AS (
            INSERT INTO contacts (id, company_id, phone, name)
            SELECT gen_random_uuid(), :company, '+1999' || lpad(i::text, 7, '0'), 'Crowd ' || i
            FROM generate_series(1, :n) i
            RETURNING id, name
        )
        INSERT INTO conversations (id, company_id, contact_id, activity_floor_at)
        SELECT gen_random_uuid(), :company, c.id,
               now() - split_part(c.name, ' ', 2)::int * interval '1 second'
        FROM c
        """,
        company=tenant.company_id,
        n=crowd,
    )
    many = listing(client, tenant.auth, q="crowd", limit=100)
    assert [item["contact"]["name"] for item in many["items"]] == [
        f"Crowd {i}" for i in range(1, 101)
    ]
    second = listing(client, tenant.auth, q="crowd", limit=100, cursor=many["next_cursor"])
    assert second["items"][0]["contact"]["name"] == "Crowd 101"
    few = listing(client, tenant.auth, q="crowd 20", limit=100)
    names = [item["contact"]["name"] for item in few["items"]]
    assert names[:3] == ["Crowd 20", "Crowd 200", "Crowd 201"]
    assert len(names) == 1 + 10 + 51  # 20, 200-209, 2000-2050
