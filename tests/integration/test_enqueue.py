"""Invariant 3: a job is enqueued only after the commit, and carries only the message id."""

import json
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text

from pipeline.bootstrap import Container
from tests.conftest import Tenant
from tests.support import new_phone
from workers.broker import DELIVERIES
from workers.queues import RedisQueues


def _delivery_jobs(container: Container) -> list[dict[str, Any]]:
    """Every delivery job waiting in Redis, decoded (what a worker would receive)."""
    return [json.loads(raw) for raw in RedisQueues(container.broker).pending_jobs(DELIVERIES)]


def test_the_job_carries_only_the_message_id(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    response = client.post(
        "/v1/messages", json={"to": new_phone(), "text": "secret text"}, headers=tenant.auth
    )
    message_id = response.get_json()["id"]
    [job] = [j for j in _delivery_jobs(container) if j["args"] == [message_id]]
    assert job["actor_name"] == "deliver_message"
    assert job["kwargs"] == {}
    assert "secret text" not in json.dumps(job)
    assert tenant.access_token not in json.dumps(job)


def test_a_failed_transaction_enqueues_nothing(
    client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    marker = uuid.uuid4().hex
    with container.db.transaction() as session:
        session.execute(
            text(f"""
            CREATE FUNCTION fail_{marker}() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER t_{marker} BEFORE INSERT ON messages FOR EACH ROW
              WHEN (NEW.text = '{marker}') EXECUTE FUNCTION fail_{marker}();
            """)
        )
    before = {tuple(j["args"]) for j in _delivery_jobs(container)}
    try:
        response = client.post(
            "/v1/messages", json={"to": new_phone(), "text": marker}, headers=tenant.auth
        )
    finally:
        with container.db.transaction() as session:
            session.execute(text(f"DROP TRIGGER t_{marker} ON messages"))
    assert response.status_code == 500
    after = {tuple(j["args"]) for j in _delivery_jobs(container)}
    assert after - before == set()
