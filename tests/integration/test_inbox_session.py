"""The inbox's sign-in: a sealed cookie stands for an API key on /v1, CSRF guards mutations."""

import re

import pytest
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder, TestResponse

from pipeline.api.session_cookie import COOKIE, SessionSealer
from pipeline.bootstrap import Container
from pipeline.config import Settings
from pipeline.services import api_keys
from pipeline.services.audit import Operator
from tests.conftest import Member, Tenant
from tests.support import new_phone


def _login_token(client: FlaskClient) -> str:
    page = client.get("/inbox/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    return found.group(1)


def sign_in(client: FlaskClient, api_key: str) -> TestResponse:
    token = _login_token(client)
    return client.post("/inbox/login", data={"api_key": api_key, "csrf_token": token})


def csrf_of(client: FlaskClient) -> str:
    page = client.get("/inbox").get_data(as_text=True)
    found = re.search(r'"csrf_token": ?"([^"]+)"', page)
    assert found is not None, "the page carries its CSRF token in the boot data"
    return found.group(1)


def test_the_inbox_sends_a_stranger_to_the_sign_in_form(client: FlaskClient) -> None:
    answer = client.get("/inbox")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/inbox/login")
    form = client.get("/inbox/login").get_data(as_text=True)
    assert 'name="api_key"' in form


def test_signing_in_sets_an_httponly_strict_cookie_that_does_not_show_the_key(
    client: FlaskClient, tenant: Tenant
) -> None:
    answer = sign_in(client, tenant.api_key)
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith("/inbox")
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert tenant.api_key not in cookie
    assert tenant.api_key.removeprefix("wap_") not in cookie
    page = client.get("/inbox")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert tenant.api_key not in page.get_data(as_text=True)


def test_a_wrong_key_or_a_forged_form_does_not_sign_in(client: FlaskClient, tenant: Tenant) -> None:
    wrong = sign_in(client, "wap_not-a-key")
    assert wrong.status_code == 401
    assert "not valid" in wrong.get_data(as_text=True)
    assert not any(c.startswith(COOKIE) for c in wrong.headers.getlist("Set-Cookie"))
    forged = client.post("/inbox/login", data={"api_key": tenant.api_key, "csrf_token": "x"})
    assert forged.status_code == 403
    assert client.get("/inbox").status_code == 302


def test_the_cookie_reads_the_api_as_its_key_would(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = client.post("/v1/messages", json={"to": new_phone(), "text": "hi"}, headers=tenant.auth)
    theirs = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "hi"}, headers=other_tenant.auth
    )
    sign_in(client, tenant.api_key)
    listed = client.get("/v1/conversations?limit=100").get_json()["items"]
    ids = {item["id"] for item in listed}
    assert mine.get_json()["conversation_id"] in ids
    assert theirs.get_json()["conversation_id"] not in ids
    other = client.get(f"/v1/messages/{theirs.get_json()['id']}")
    assert other.status_code == 404


def test_a_mutation_without_the_csrf_token_is_refused_and_changes_nothing(
    client: FlaskClient, tenant: Tenant
) -> None:
    sent = client.post("/v1/messages", json={"to": new_phone(), "text": "hi"}, headers=tenant.auth)
    conversation = f"/v1/conversations/{sent.get_json()['conversation_id']}"
    sign_in(client, tenant.api_key)
    token = csrf_of(client)
    for headers in ({}, {"X-CSRF-Token": "wrong"}):
        refused = client.patch(conversation, json={"is_favorite": True}, headers=headers)
        assert refused.status_code == 403
        assert refused.get_json()["error"]["code"] == "CSRF_FAILED"
    assert client.get(conversation).get_json()["is_favorite"] is False
    accepted = client.patch(
        conversation, json={"is_favorite": True}, headers={"X-CSRF-Token": token}
    )
    assert accepted.status_code == 200
    assert accepted.get_json()["is_favorite"] is True


def test_a_bearer_header_wins_over_the_cookie_and_needs_no_csrf(
    client: FlaskClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    sign_in(client, tenant.api_key)
    answer = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "hi"}, headers=other_tenant.auth
    )
    assert answer.status_code == 202
    found = client.get(f"/v1/messages/{answer.get_json()['id']}", headers=other_tenant.auth)
    assert found.status_code == 200
    assert client.get(f"/v1/messages/{answer.get_json()['id']}").status_code == 404


@pytest.mark.parametrize("value", ["", "garbage", "gAAAAABnot-a-real-token"])
def test_a_cookie_not_sealed_here_is_no_session(
    client: FlaskClient, tenant: Tenant, value: str
) -> None:
    client.set_cookie(COOKIE, value)
    answer = client.get("/v1/conversations")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "UNAUTHORIZED"
    assert client.get("/inbox").status_code == 302


def test_signing_out_forgets_the_session(client: FlaskClient, tenant: Tenant) -> None:
    sign_in(client, tenant.api_key)
    token = csrf_of(client)
    assert client.post("/inbox/logout").status_code == 403  # a forged sign-out is refused
    answer = client.post("/inbox/logout", data={"csrf_token": token})
    assert answer.status_code == 302
    assert client.get_cookie(COOKIE) is None
    assert client.get("/v1/conversations").status_code == 401


def test_a_revoked_key_ends_its_session(
    client: FlaskClient, container: Container, tenant: Tenant, agent: Member
) -> None:
    sign_in(client, agent.api_key)
    assert client.get("/v1/conversations").status_code == 200
    api_keys.revoke_keys(container.db, Operator("test"), tenant.company_id, user_id=agent.user_id)
    container.principals.clear()
    assert client.get("/v1/conversations").status_code == 401
    assert client.get("/inbox").status_code == 302


def test_the_page_tells_the_script_who_signs_in(client: FlaskClient, agent: Member) -> None:
    sign_in(client, agent.api_key)
    page = client.get("/inbox").get_data(as_text=True)
    assert '"role": "agent"' in page or '"role":"agent"' in page
    assert str(agent.user_id) in page


def test_over_https_the_cookie_is_secure(client: FlaskClient, tenant: Tenant) -> None:
    page = client.get("/inbox/login", base_url="https://localhost")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found is not None
    answer = client.post(
        "/inbox/login",
        data={"api_key": tenant.api_key, "csrf_token": found.group(1)},
        base_url="https://localhost",
    )
    cookie = next(c for c in answer.headers.getlist("Set-Cookie") if c.startswith(COOKIE))
    assert "Secure" in cookie


def test_wapipe_secure_cookies_marks_them_secure_behind_a_proxy(settings: Settings) -> None:
    plain = EnvironBuilder(base_url="http://wapipe.internal").get_request()
    assert SessionSealer.from_settings(settings).secure(plain) is False
    behind = settings.model_copy(update={"wapipe_secure_cookies": True})
    assert SessionSealer.from_settings(behind).secure(plain) is True
