"""The API as `wapipe api` runs it (gunicorn, gthread) on a real socket, for hostile clients.

The fuzz and hostile-input tests need the real server: whether a kept-alive connection
survives an answer, and what `Connection` header it carries, is gunicorn's doing, not Flask's.
"""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from pipeline.bootstrap import Container
from pipeline.config import Settings
from tests.conftest import Tenant
from tests.e2e.processes import WAPIPE, Process, running, stack_env, wait_http_ok
from tests.support import free_port, new_phone


@pytest.fixture(scope="package")
def api_url(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs: Path = tmp_path_factory.mktemp("fuzz-logs")
    port = free_port()
    env = stack_env(
        {
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "WHATSAPP_API_BASE_URL": settings.whatsapp_api_base_url,
            "WHATSAPP_APP_SECRET": settings.whatsapp_app_secret,
            "WHATSAPP_VERIFY_TOKEN": settings.whatsapp_verify_token,
            # The session's queues: the jobs the fuzzer's messages enqueue are flushed with them.
            "WAPIPE_QUEUE_NAMESPACE": settings.wapipe_queue_namespace,
            # A fuzzed endpoint URL is refused for its form only, not for where its host
            # resolves (a name that does not resolve here is valid in the document's terms).
            "WAPIPE_EVENTS_ALLOW_PRIVATE_URLS": "true",
        }
    )
    api = Process(
        "api",
        [*WAPIPE, "api", "--port", str(port), "--workers", "1", "--threads", "4"],
        env,
        logs / "api.log",
    )
    with running(api):
        url = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{url}/readyz", api)
        yield url


@pytest.fixture(scope="package", autouse=True)
def _fuzzed_webhooks_are_never_applied(container: Container) -> Iterator[None]:
    """Signed fuzz bodies are stored like real deliveries; other tests' appliers (and their
    counts of unprocessed deliveries) must not meet them, so they end up marked processed."""
    with container.db.transaction() as session:
        before = session.scalar(text("SELECT coalesce(max(id), 0) FROM webhook_inbox"))
    yield
    with container.db.transaction() as session:
        session.execute(
            text("UPDATE webhook_inbox SET processed_at = now() WHERE id > :before"),
            {"before": before},
        )


@pytest.fixture(scope="package", autouse=True)
def _fuzzed_endpoints_are_removed(container: Container) -> Iterator[None]:
    """Webhook endpoints the fuzzer registered must not be delivered to by later tests'
    workers."""
    yield
    with container.db.transaction() as session:
        session.execute(text("DELETE FROM webhook_endpoints"))


@pytest.fixture
def seeded(tenant: Tenant, container: Container) -> dict[str, str]:
    """A conversation and a failed message of ``tenant``: real ids for the hostile requests."""
    from pipeline.api.app import create_app  # the in-process app seeds; the server is tested

    client = create_app(container=container).test_client()
    phone = new_phone()
    sent = client.post("/v1/messages", json={"to": phone, "text": "hi"}, headers=tenant.auth)
    assert sent.status_code == 202, sent.get_json()
    return {
        "conversation_id": sent.get_json()["conversation_id"],
        "message_id": sent.get_json()["id"],
    }


def host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def connect(url: str) -> socket.socket:
    return socket.create_connection(host_port(url), timeout=10)
