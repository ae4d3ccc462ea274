"""Every case of the hostile corpus gets its 4xx and stable code from the real server, and
never costs the client its kept-alive connection."""

import pytest

from tests.conftest import Tenant
from tests.fuzz.conftest import connect
from tests.fuzz.hostile import CORPUS, Hostile
from tests.fuzz.raw import exchange, request_bytes


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_a_hostile_request_gets_its_answer_and_the_connection_survives(
    api_url: str, tenant: Tenant, seeded: dict[str, str], case: Hostile
) -> None:
    raw = case.request.replace(b"{key}", tenant.api_key.encode())
    for name, value in seeded.items():
        raw = raw.replace(b"{%s}" % name.encode(), value.encode())
    with connect(api_url) as sock:
        answer = exchange(sock, raw)
        assert answer.status == case.status, answer.body[:300]
        if case.code is not None:
            assert answer.headers["content-type"] == "application/json"
            assert answer.json()["error"]["code"] == case.code
            assert set(answer.json()["error"]) == {"code", "message", "details"}
        if answer.status == 405:
            assert answer.headers["allow"]
        if answer.closes:
            return  # announced: a client opens another connection, nothing is lost
        # Kept alive: the very same connection must carry the next request.
        follow_up = exchange(sock, request_bytes("GET", "/healthz"))
        assert follow_up.status == 200, follow_up.body[:300]
