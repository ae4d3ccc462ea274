"""`wapipe keys list|create|revoke|rotate`: API keys managed without a database shell."""

import time
import uuid
from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select, update

from db.models import ApiKey
from pipeline.bootstrap import Container
from tests.cli_support import Wapipe
from tests.conftest import Member, Tenant
from tests.support import wait_for


def _get(client: FlaskClient, api_key: str) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    return client.get(f"/v1/messages/{uuid.uuid4()}", headers=headers).status_code


def _key_row(container: Container, key_id: str) -> ApiKey:
    with container.db.transaction() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(key_id)))
        assert row is not None
        return row


def test_a_created_key_works_is_listed_without_its_secret_and_shows_when_it_was_used(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, agent: Member
) -> None:
    company = str(tenant.company_id)
    new = wapipe.json("keys", "create", "--company", company, "--user", str(agent.user_id))
    assert new["user_id"] == str(agent.user_id)
    assert new["api_key"].startswith("wap_")

    listed = wapipe.json("keys", "list", "--company", company)
    [before] = [k for k in listed if k["id"] == new["key_id"]]
    assert before["last_used_at"] is None
    assert _get(client, new["api_key"]) == 404  # authenticated: the message does not exist

    listed = wapipe.json("keys", "list", "--company", company, "--user", str(agent.user_id))
    assert {k["id"] for k in listed} == {new["key_id"], _key_id_of(wapipe, company, agent)}
    [used] = [k for k in listed if k["id"] == new["key_id"]]
    assert used["last_used_at"] is not None
    assert used["role"] == "agent"
    assert used["revoked_at"] is None
    table = wapipe("keys", "list", "--company", company).output
    assert new["api_key"] not in table
    assert new["api_key"] not in str(listed)
    assert new["api_key"][:10] in table  # the prefix names it


def _key_id_of(wapipe: Wapipe, company: str, member: Member) -> str:
    """The member's first key (made with the user)."""
    keys = wapipe.json("keys", "list", "--company", company, "--user", str(member.user_id))
    return str(keys[0]["id"])


def test_last_used_at_is_written_at_most_once_a_minute_per_key(
    wapipe: Wapipe, client: FlaskClient, container: Container, tenant: Tenant
) -> None:
    new = wapipe.json("keys", "create", "--company", str(tenant.company_id))
    assert _get(client, new["api_key"]) == 404
    first = _key_row(container, new["key_id"]).last_used_at
    assert first is not None
    container.principals.clear()  # a cache miss: the next request reads the key again
    assert _get(client, new["api_key"]) == 404
    assert _key_row(container, new["key_id"]).last_used_at == first

    a_minute_ago = first - timedelta(seconds=61)
    with container.db.transaction() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(new["key_id"]))
            .values(last_used_at=a_minute_ago)
        )
    container.principals.clear()
    assert _get(client, new["api_key"]) == 404
    later = _key_row(container, new["key_id"]).last_used_at
    assert later is not None
    assert later > first - timedelta(seconds=1)


def test_a_revoked_key_is_refused_within_the_auth_cache_time(
    wapipe: Wapipe, client: FlaskClient, container: Container, tenant: Tenant
) -> None:
    new = wapipe.json("keys", "create", "--company", str(tenant.company_id))
    assert _get(client, new["api_key"]) == 404  # now cached as valid
    done = wapipe.json(
        "keys", "revoke", new["api_key"][:10], "--company", str(tenant.company_id),
        "--reason", "leaked in a ticket",
    )  # fmt: skip
    revoked_at = time.monotonic()
    assert done["revoked"] == [new["key_id"]]
    wait_for(lambda: _get(client, new["api_key"]) == 401, timeout=10, what="refusal")
    assert time.monotonic() - revoked_at <= container.settings.wapipe_auth_cache_seconds + 0.5
    assert _get(client, tenant.api_key) == 404  # the company's other keys still work
    audit = wapipe.json("audit", "--company", str(tenant.company_id), "--action", "keys.revoke")
    assert audit[0]["reason"] == "leaked in a ticket"
    assert new["api_key"] not in str(audit)


def test_revoking_every_key_of_a_user(
    wapipe: Wapipe, client: FlaskClient, container: Container, tenant: Tenant, agent: Member
) -> None:
    company = str(tenant.company_id)
    second = wapipe.json("keys", "create", "--company", company, "--user", str(agent.user_id))
    done = wapipe.json("keys", "revoke", "--company", company, "--user", str(agent.user_id))
    assert set(done["revoked"]) == {second["key_id"], _key_id_of(wapipe, company, agent)}
    container.principals.clear()
    assert _get(client, second["api_key"]) == 401
    assert _get(client, agent.api_key) == 401
    assert _get(client, tenant.api_key) == 404


def test_rotating_a_key_replaces_it_for_the_same_user_and_keeps_its_rate(
    wapipe: Wapipe, client: FlaskClient, container: Container, tenant: Tenant, agent: Member
) -> None:
    company = str(tenant.company_id)
    old = wapipe.json(
        "keys", "create", "--company", company, "--user", str(agent.user_id), "--rate", "50"
    )
    new = wapipe.json("keys", "rotate", old["key_id"], "--company", company)
    assert new["replaced"] == old["key_id"]
    assert new["user_id"] == str(agent.user_id)
    assert new["rate_limit"] == 50
    container.principals.clear()
    assert _get(client, old["api_key"]) == 401
    assert _get(client, new["api_key"]) == 404
    faster = wapipe.json("keys", "rotate", new["key_id"], "--company", company, "--rate", "80")
    assert faster["rate_limit"] == 80
    text = wapipe("keys", "rotate", faster["key_id"], "--company", company).output
    assert "api_key: wap_" in text
    assert "revoked:" in text


def test_another_companys_key_or_user_is_not_found(
    wapipe: Wapipe, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = wapipe.json("keys", "list", "--company", str(other_tenant.company_id))[0]
    ours = str(tenant.company_id)
    result = wapipe("keys", "revoke", theirs["id"], "--company", ours, code=1)
    assert "no such key in this company" in result.output
    result = wapipe("keys", "create", "--company", ours, "--user", theirs["user_id"], code=1)
    assert "user not found" in result.output
    result = wapipe("keys", "list", "--company", str(uuid.uuid4()), code=1)
    assert "company not found" in result.output
    result = wapipe("keys", "rotate", "--company", ours, code=1)
    assert "name the key to rotate" in result.output
    result = wapipe("keys", "create", "--company", ours, "--rate", "0", code=2)
    assert "--rate" in result.output


def test_a_new_key_is_made_for_the_companys_first_admin_by_default(
    wapipe: Wapipe, tenant: Tenant
) -> None:
    company = str(tenant.company_id)
    owner = wapipe.json("keys", "list", "--company", company)[0]
    new = wapipe.json("keys", "create", "--company", company)
    assert new["user_id"] == owner["user_id"]
    assert isinstance(datetime.fromisoformat(owner["created_at"]), datetime)
