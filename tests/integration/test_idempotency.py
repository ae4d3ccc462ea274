import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from db.models import Conversation, IdempotencyKey, Message
from pipeline.bootstrap import Container
from pipeline.domain.errors import IdempotencyInProgress
from pipeline.services.idempotency import (
    IdempotentRequest,
    Reply,
    purge_idempotency_keys,
    reply,
    run_once,
)
from pipeline.services.sweeper import sweep
from pipeline.services.tenants import Principal
from tests.conftest import Member, Tenant
from tests.support import new_phone, wait_for


def key() -> str:
    return f"key-{uuid.uuid4()}"


def messages_to(container: Container, tenant: Tenant, phone: str) -> int:
    with container.db.transaction() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.company_id == tenant.company_id, Message.to_phone == phone)
            )
            or 0
        )


def post(
    client: FlaskClient, path: str, body: Any, auth: dict[str, str], idem: str
) -> tuple[int, bytes, dict[str, str]]:
    response = client.post(path, json=body, headers={**auth, "Idempotency-Key": idem})
    return response.status_code, response.data, dict(response.headers)


def test_a_repeated_message_request_replays_the_first_answer_and_sends_once(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()
    status, body, headers = post(
        client, "/v1/messages", {"to": phone, "text": "pay now"}, tenant.auth, idem
    )
    assert status == 202
    assert "Idempotent-Replayed" not in headers
    # The same JSON value, written differently: other key order, other spacing.
    again = client.post(
        "/v1/messages",
        data='{ "text" : "pay now",\n "to": "' + phone + '" }',
        content_type="application/json",
        headers={**tenant.auth, "Idempotency-Key": idem},
    )
    assert (again.status_code, again.data) == (202, body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert messages_to(container, tenant, phone) == 1


def test_a_key_reused_with_a_different_body_or_endpoint_is_a_409(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()
    post(client, "/v1/messages", {"to": phone, "text": "one"}, tenant.auth, idem)
    for path, body in (
        ("/v1/messages", {"to": phone, "text": "two"}),
        ("/v1/conversations", {"to": phone}),
    ):
        status, raw, _ = post(client, path, body, tenant.auth, idem)
        assert status == 409
        assert json.loads(raw)["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert messages_to(container, tenant, phone) == 1


def test_a_created_conversation_replays_as_201_even_once_it_exists(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()
    first = post(client, "/v1/conversations", {"to": phone, "name": "Zoe"}, tenant.auth, idem)
    second = post(client, "/v1/conversations", {"name": "Zoe", "to": phone}, tenant.auth, idem)
    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    # Without the key, the same request is a plain find.
    plain = client.post("/v1/conversations", json={"to": phone}, headers=tenant.auth)
    assert plain.status_code == 200
    assert plain.get_json()["id"] == json.loads(first[1])["id"]


def test_keys_belong_to_one_company(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()
    mine = post(client, "/v1/messages", {"to": phone, "text": "x"}, tenant.auth, idem)
    theirs = post(client, "/v1/messages", {"to": phone, "text": "x"}, other_tenant.auth, idem)
    assert mine[0] == theirs[0] == 202
    assert json.loads(mine[1])["id"] != json.loads(theirs[1])["id"]
    assert messages_to(container, tenant, phone) == 1
    assert messages_to(container, other_tenant, phone) == 1


def test_any_user_of_the_company_gets_the_replay(
    client: FlaskClient, tenant: Tenant, agent: Member
) -> None:
    phone, idem = new_phone(), key()
    first = post(client, "/v1/messages", {"to": phone, "text": "x"}, tenant.auth, idem)
    second = post(client, "/v1/messages", {"to": phone, "text": "x"}, agent.auth, idem)
    assert first[:2] == second[:2]


def test_a_request_that_failed_leaves_no_key_so_its_retry_runs(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    # A real database failure inside the intake transaction gives a 500; the retry with the
    # same key must run again rather than replay the 500 or be stuck "in progress".
    marker = f"boom{uuid.uuid4().hex}"
    sql = f"""
        CREATE FUNCTION {marker}() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql;
        CREATE TRIGGER {marker} BEFORE INSERT ON message_status_history
          FOR EACH ROW EXECUTE FUNCTION {marker}();
    """
    phone, idem = new_phone(), key()
    body = {"to": phone, "text": "retry me"}
    with container.db.transaction() as session:
        session.execute(text(sql))
    try:
        failed = post(client, "/v1/messages", body, tenant.auth, idem)
    finally:
        with container.db.transaction() as session:
            session.execute(text(f"DROP TRIGGER {marker} ON message_status_history"))
    assert failed[0] == 500
    retried = post(client, "/v1/messages", body, tenant.auth, idem)
    assert retried[0] == 202
    assert messages_to(container, tenant, phone) == 1
    assert post(client, "/v1/messages", body, tenant.auth, idem)[:2] == retried[:2]


def test_a_rejected_request_is_not_remembered(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()
    unknown_reply = {"to": phone, "text": "x", "reply_to": str(uuid.uuid4())}
    assert post(client, "/v1/messages", unknown_reply, tenant.auth, idem)[0] == 404
    assert post(client, "/v1/messages", {"to": phone}, tenant.auth, idem)[0] == 400
    fixed = post(client, "/v1/messages", {"to": phone, "text": "x"}, tenant.auth, idem)
    assert fixed[0] == 202
    assert messages_to(container, tenant, phone) == 1


@pytest.mark.parametrize("value", ["", "   ", "x" * 256, "naïve"])
def test_an_invalid_key_is_a_400(client: FlaskClient, tenant: Tenant, value: str) -> None:
    response = client.post(
        "/v1/messages",
        json={"to": new_phone(), "text": "x"},
        headers={**tenant.auth, "Idempotency-Key": value.encode().decode("latin-1")},
    )
    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["error"]["details"]


def test_twins_racing_with_one_key_send_one_message(
    live_url: str, tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()

    def send(_: int) -> httpx.Response:
        return httpx.post(
            f"{live_url}/v1/messages",
            json={"to": phone, "text": "only once"},
            headers={**tenant.auth, "Idempotency-Key": idem},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(send, range(20)))
    assert [r.status_code for r in responses] == [202] * 20
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert messages_to(container, tenant, phone) == 1


def test_concurrent_creates_with_one_key_make_one_conversation(
    live_url: str, tenant: Tenant, container: Container
) -> None:
    phone, idem = new_phone(), key()

    def create(_: int) -> httpx.Response:
        return httpx.post(
            f"{live_url}/v1/conversations",
            json={"to": phone},
            headers={**tenant.auth, "Idempotency-Key": idem},
            timeout=30,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(create, range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    with container.db.transaction() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.company_id == tenant.company_id)
        )
    assert count == 1


def _principal(container: Container, tenant: Tenant) -> Principal:
    from pipeline.services.tenants import authenticate

    return authenticate(container.db, tenant.api_key)


def _waiting_on_a_lock(container: Container) -> bool:
    with container.db.transaction() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%INSERT INTO idempotency_keys%' AND datname = current_database()"
            )
        )
    return bool(waiting)


def test_a_twin_waits_for_the_first_request_and_replays_its_answer(
    live_url: str, tenant: Tenant, container: Container
) -> None:
    principal = _principal(container, tenant)
    phone, idem = new_phone(), key()
    body = {"to": phone, "text": "slow"}
    once = IdempotentRequest.of(idem, "POST /v1/messages", body)
    release = threading.Event()

    def slow_first(session: Session) -> Reply:
        assert release.wait(10)
        return reply(202, {"first": True})

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(run_once, container.db, principal, once, slow_first)
        wait_for(lambda: _has_claimed(container), what="the first request to claim the key")
        twin = pool.submit(
            httpx.post,
            f"{live_url}/v1/messages",
            json=body,
            headers={**tenant.auth, "Idempotency-Key": idem},
            timeout=30,
        )
        wait_for(lambda: _waiting_on_a_lock(container), what="the twin to wait")
        assert not twin.done()
        release.set()
        assert first.result(timeout=10).status == 202
        response = twin.result(timeout=10)
    assert (response.status_code, response.json()) == (202, {"first": True})
    assert response.headers["Idempotent-Replayed"] == "true"
    assert messages_to(container, tenant, phone) == 0


def _has_claimed(container: Container) -> bool:
    with container.db.transaction() as session:
        active = session.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'idempotency_keys' AND l.mode = 'RowExclusiveLock'"
            )
        )
    return bool(active)


def test_a_twin_that_waits_too_long_gets_409_in_progress(
    tenant: Tenant, container: Container
) -> None:
    principal = _principal(container, tenant)
    once = IdempotentRequest.of(key(), "POST /v1/messages", {"to": new_phone(), "text": "x"})
    release = threading.Event()

    def slow_first(session: Session) -> Reply:
        assert release.wait(10)
        return reply(202, {})

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(run_once, container.db, principal, once, slow_first)
        wait_for(lambda: _has_claimed(container), what="the first request to claim the key")
        try:
            with pytest.raises(IdempotencyInProgress) as raised:
                run_once(
                    container.db,
                    principal,
                    once,
                    lambda session: reply(202, {"second": True}),
                    twin_wait=timedelta(milliseconds=200),
                )
        finally:
            release.set()
        assert first.result(timeout=10).status == 202
    assert raised.value.code == "IDEMPOTENCY_IN_PROGRESS"
    assert raised.value.status == 409


def test_keys_are_kept_24_hours_then_may_be_reused(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    phone, recent, expired = new_phone(), key(), key()
    body = {"to": phone, "text": "x"}
    first_recent = post(client, "/v1/messages", body, tenant.auth, recent)
    post(client, "/v1/messages", body, tenant.auth, expired)
    with container.db.transaction() as session:
        for idem, age in ((recent, "23 hours 59 minutes"), (expired, "24 hours 1 minute")):
            session.execute(
                text(
                    "UPDATE idempotency_keys SET created_at = now() - CAST(:age AS interval) "
                    "WHERE company_id = :c AND key = :k"
                ),
                {"age": age, "c": tenant.company_id, "k": idem},
            )
    assert post(client, "/v1/messages", body, tenant.auth, recent)[:2] == first_recent[:2]
    assert messages_to(container, tenant, phone) == 2
    # Past 24 hours the key is free: the request runs again.
    rerun = post(client, "/v1/messages", body, tenant.auth, expired)
    assert rerun[0] == 202
    assert "Idempotent-Replayed" not in rerun[2]
    assert messages_to(container, tenant, phone) == 3


def test_purging_removes_only_keys_older_than_24_hours(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    old, fresh = key(), key()
    for idem in (old, fresh):
        post(client, "/v1/messages", {"to": new_phone(), "text": "x"}, tenant.auth, idem)
    with container.db.transaction() as session:
        session.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                "WHERE company_id = :c AND key = :k"
            ),
            {"c": tenant.company_id, "k": old},
        )
    assert purge_idempotency_keys(container.db) >= 1
    with container.db.transaction() as session:
        left = set(
            session.scalars(
                select(IdempotencyKey.key).where(IdempotencyKey.company_id == tenant.company_id)
            )
        )
    assert left == {fresh}


def test_an_operator_sweep_purges_expired_keys(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    expired = key()
    post(client, "/v1/messages", {"to": new_phone(), "text": "x"}, tenant.auth, expired)
    with container.db.transaction() as session:
        session.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                "WHERE company_id = :c AND key = :k"
            ),
            {"c": tenant.company_id, "k": expired},
        )
    report = sweep(container.db, container.queue, grace_seconds=60, purge_keys=True)
    assert report.expired_idempotency_keys >= 1
    with container.db.transaction() as session:
        left = session.scalar(
            select(IdempotencyKey.key).where(
                IdempotencyKey.company_id == tenant.company_id, IdempotencyKey.key == expired
            )
        )
    assert left is None
