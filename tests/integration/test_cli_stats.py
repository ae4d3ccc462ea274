"""`wapipe stats`: counts, queue depths, backlogs and ambiguous resends, once or watched."""

import os
import uuid
from typing import Any

from dramatiq import Worker
from flask.testing import FlaskClient
from sqlalchemy import update

from db.models import Message
from pipeline.bootstrap import Container
from pipeline.config import Settings
from tests.cli_support import Wapipe
from tests.conftest import APP_SECRET, Tenant
from tests.support import send_message, signed_headers, status, status_body, wait_for


def test_stats_count_a_companys_messages_and_show_the_oldest_still_sending(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant
) -> None:
    ids = [send_message(client, tenant) for _ in range(3)]  # no worker: they wait as `sending`
    stats = wapipe.json("stats", "--company", str(tenant.company_id))
    [company] = stats["companies"].values()
    assert company["name"] == "Test Co"
    assert company["counts"] == {"sending": 3, "sent": 0, "delivered": 0, "read": 0, "failed": 0}
    assert stats["oldest_sending"]["id"] == ids[0]
    assert stats["oldest_sending"]["channel_paused"] is False
    assert stats["queues"]["deliveries"]["ready"] >= 3
    assert set(stats["queues"]["deliveries"]) == {"ready", "in_flight", "delayed", "dead"}
    output = wapipe("stats", "--company", str(tenant.company_id)).output
    assert "Test Co" in output
    assert "DEAD" in output
    assert "oldest sending: " in output


def test_stats_show_the_webhook_backlog_and_ambiguous_resends(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    body = status_body(tenant.phone_number_id, [status(f"wamid.{uuid.uuid4().hex}", "read", 1)])
    client.post("/webhooks/whatsapp", data=body, headers=signed_headers(APP_SECRET, body))
    message_id = send_message(client, tenant)
    with container.db.transaction() as session:  # what a worker killed mid-send leaves
        session.execute(
            update(Message).where(Message.id == uuid.UUID(message_id)).values(ambiguous_resends=2)
        )
    stats = wapipe.json("stats", "--company", str(tenant.company_id))
    assert stats["ambiguous_resends"] == 2
    assert stats["webhook_backlog"]["count"] >= 1
    assert (
        "ambiguous resends (may have been sent twice): 2"
        in wapipe("stats", "--company", str(tenant.company_id)).output
    )


def test_watch_refreshes_the_figures(wapipe: Wapipe, tenant: Tenant) -> None:
    args = ("stats", "--company", str(tenant.company_id), "--watch", "--interval", "10ms")
    output = wapipe(*args, "--iterations", "3").output
    assert output.count("wapipe stats at") == 3
    lines = wapipe(*args, "--iterations", "2", "--json").output.splitlines()
    assert len(lines) == 2


def test_stats_still_show_postgresql_figures_when_redis_is_down(
    settings: Settings, tenant: Tenant
) -> None:
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    output = Wapipe(unreachable)("stats", "--company", str(tenant.company_id)).output
    assert "queues: Redis unreachable" in output
    assert "oldest sending" in output


def test_a_command_that_needs_redis_fails_in_one_line_when_it_is_down(
    settings: Settings,
) -> None:
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    result = Wapipe(unreachable)("dlq", "list", code=1)
    assert result.output.strip() == "Error: Redis: Connection refused"


def test_a_command_fails_in_one_line_when_postgresql_is_down(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": "postgresql+psycopg://127.0.0.1:1/wapipe"}
    )
    result = Wapipe(unreachable)("messages", "list", code=1)
    assert result.output.strip() == "Error: PostgreSQL: Connection refused"


def test_every_command_help_fits_80_columns(wapipe: Wapipe) -> None:
    groups = {
        "messages": ("list", "show", "retry"),
        "dlq": ("list", "show", "replay", "purge"),
        "channels": ("list", "pause", "resume"),
        "webhooks": ("replay",),
    }
    for group, commands in groups.items():
        wapipe(group, "--help")
        for command in commands:
            wapipe(group, command, "--help")
    for command in ("stats", "audit", "sweep"):
        wapipe(command, "--help")


def test_stats_show_the_live_worker_nodes_and_which_one_leads(
    wapipe: Wapipe, worker: Worker, container: Container
) -> None:
    def leading() -> dict[str, Any] | None:
        found = [n for n in wapipe.json("stats")["nodes"] if n["id"] == container.node_id]
        return found[0] if found and found[0]["leader"] else None

    node = wait_for(leading, timeout=10, interval=0.2, what="the test's worker to lead")
    assert node["pid"] == os.getpid()
    assert node["queues"] == ["all"]
    output = wapipe("stats").output
    assert "worker nodes" in output
    assert "leader" in output
    worker.stop(timeout=10_000)  # a node that stops leaves the list at once
    assert all(n["id"] != container.node_id for n in wapipe.json("stats")["nodes"])
    assert "worker nodes: none alive" in wapipe("stats").output
