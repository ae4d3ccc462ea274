"""A 3 a.m. incident, end to end: a burst of transient failures, found and fixed with the CLI.

The pipeline runs as real processes (gunicorn, dramatiq, the fake provider); the operator's
`wapipe` commands run as real processes too, against the same database and queues.
"""

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pipeline.bootstrap import Container
from pipeline.services import tenants
from tests.e2e.conftest import Stack
from tests.e2e.processes import WAPIPE
from tests.support import new_phone, wait_for

pytestmark = pytest.mark.e2e

BURST = 8
TRANSIENT = 131000  # "something went wrong": worth retrying once the provider recovers


class Operator:
    """Runs `wapipe` as the on-call person would, in an 80-column terminal."""

    def __init__(self, stack: Stack) -> None:
        self.env = stack.env | {"COLUMNS": "80", "WAPIPE_ACTOR": "oncall"}

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            [*WAPIPE, *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"wapipe {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        if "--json" not in args:
            wide = [line for line in done.stdout.splitlines() if len(line) > 80]
            assert not wide, wide
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json"))


@pytest.fixture
def company(stack: Stack, container: Container, fake_admin: httpx.Client) -> Iterator[Any]:
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-{uuid.uuid4().hex}"
    new = tenants.create_company(container.db, "Night Shift Clinic", pnid, token)
    fake_admin.put(f"/_fake/channels/{pnid}", json={"access_token": token}).raise_for_status()
    headers = {"Authorization": f"Bearer {new.api_key}"}
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=10) as api:
        yield new.company_id, api


def _statuses(api: httpx.Client, ids: list[str]) -> list[dict[str, Any]]:
    return [api.get(f"/v1/messages/{i}").json() for i in ids]


def _wait_all(api: httpx.Client, ids: list[str], status: str) -> list[dict[str, Any]]:
    def reached() -> list[dict[str, Any]] | None:
        messages = _statuses(api, ids)
        return messages if all(m["status"] == status for m in messages) else None

    return wait_for(
        reached,
        timeout=60,
        interval=0.25,
        what=f"{len(ids)} messages to reach {status}",
    )


def test_a_burst_of_transient_failures_is_found_retried_in_bulk_to_read_and_audited(
    stack: Stack, company: Any, fake_admin: httpx.Client
) -> None:
    company_id, api = company
    wapipe = Operator(stack)
    phones = [new_phone() for _ in range(BURST)]
    for phone in phones:  # the provider is down for these recipients, for good
        rule = {"to": phone.lstrip("+"), "code": TRANSIENT, "times": 1000}
        fake_admin.post("/_fake/rules", json=rule).raise_for_status()
    ids = []
    for phone in phones:
        response = api.post("/v1/messages", json={"to": phone, "text": "Your appointment"})
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    failed = _wait_all(api, ids, "failed")
    assert {m["error"]["code"] for m in failed} == {str(TRANSIENT)}

    # What failed, and why?
    scope = ("--company", str(company_id))
    stats = wapipe.json("stats", *scope)
    assert stats["totals"]["failed"] == BURST
    listed = wapipe("messages", "list", "--status", "failed", *scope)
    assert all(message_id in listed for message_id in ids)
    story = wapipe.json("messages", "show", ids[0])
    assert "transient" in story["advice"]
    assert story["attempts_log"][-1]["error_code"] == str(TRANSIENT)

    # The provider recovers; is it safe to send again? The plan says what will happen.
    fake_admin.delete("/_fake/rules").raise_for_status()
    bulk = ("messages", "retry", "--status", "failed", *scope, "--error-code", str(TRANSIENT))
    plan = wapipe(*bulk, "--dry-run")
    assert f"{BURST} failed message(s) to retry" in plan
    assert f"error {TRANSIENT} (transient)" in plan
    done = wapipe(*bulk, "--yes", "--rate", "50/s", "--reason", "provider outage over")
    assert f"retried {BURST}, skipped 0" in done

    for message in _wait_all(api, ids, "read"):
        assert fake_admin.get(f"/_fake/sends/{message['id']}").json()["count"] == 1
        applied = [(h["status"], h["source"]) for h in message["history"] if h["applied"]]
        assert applied[:3] == [("sending", "intake"), ("failed", "worker"), ("sending", "operator")]
        assert applied[-1] == ("read", "webhook")

    # Who did what: the audit trail shows the retry and every message it touched.
    [action] = wapipe.json("audit", "--action", "messages.retry", *scope)
    assert (action["actor"], action["reason"]) == ("oncall", "provider outage over")
    assert (action["details"]["retried"], action["details"]["rate"]) == (BURST, 50.0)
    touched = wapipe.json("audit", "--id", str(action["id"]))["messages"]
    assert sorted(m["id"] for m in touched) == sorted(ids)
    assert {(m["outcome"], m["status"]) for m in touched} == {("retried", "failed")}
    assert "messages.retry" in wapipe("audit", *scope)

    # Run twice by a tired operator: nothing is sent again.
    assert "nothing to retry" in wapipe(*bulk, "--yes")
    assert wapipe.json("stats", *scope)["totals"]["read"] == BURST
