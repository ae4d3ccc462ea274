"""The compose demo service's script (deploy/compose/demo-batch.sh), run against the same
processes compose starts (api, worker, the fake provider with compose's channel) on this
machine: it registers the demo company, and its batch reaches `read`. A second run (another
`compose up`) finds the company and takes a new key."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from db import migrate
from tests.deploy.tools import DEPLOY, VENV_BIN, run
from tests.e2e.processes import WAPIPE, Process, running, stack_env, wait_http_ok
from tests.support import free_port

pytestmark = pytest.mark.e2e

SCRIPT = DEPLOY / "compose" / "demo-batch.sh"


@pytest.fixture
def demo_database() -> Iterator[str]:
    # Its own database: the stack's webhook appliers must not apply other tests' webhooks.
    base = os.environ.get("WAPIPE_TEST_DATABASE_URL", "postgresql+psycopg:///wapipe_test")
    url = f"{base}_demo_{uuid.uuid4().hex[:8]}"
    migrate.create_database(url)
    migrate.upgrade(url)
    yield url
    migrate.drop_database(url)


def test_the_demo_batch_reaches_read_on_first_and_later_runs(
    demo_database: str, tmp_path: Path
) -> None:
    api_port, fake_port = free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    env = stack_env(
        {
            "DATABASE_URL": demo_database,
            "REDIS_URL": os.environ.get("WAPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "WHATSAPP_API_BASE_URL": f"{fake_url}/v21.0",
            "WAPIPE_QUEUE_NAMESPACE": f"wapipe-demo-{uuid.uuid4().hex[:8]}",
            "WAPIPE_METRICS_PORT": str(free_port()),
        }
    )
    fake_command = compose_fake_channel()
    fake = Process(
        "fake-provider",
        [*WAPIPE, "fake-provider", "--port", str(fake_port), fake_command,
         "--webhook-url", f"{api_url}/webhooks/whatsapp", "--status-delay-ms", "50"],
        env,
        tmp_path / "fake.log",
    )  # fmt: skip
    api = Process("api", [*WAPIPE, "api", "--port", str(api_port)], env, tmp_path / "api.log")
    worker = Process("worker", [*WAPIPE, "worker", "--processes", "1"], env, tmp_path / "w.log")
    demo_env = {
        **env,
        # What compose's demo service sets (docker-compose.yml), and wapipe on the PATH.
        "PATH": f"{VENV_BIN}:{env['PATH']}",
        "DEMO_PHONE_NUMBER_ID": "1000001",
        "WAPIPE_ACCESS_TOKEN": "demo-access-token",
        "WAPIPE_ACTOR": "compose-demo",
        "WAPIPE_API_URL": api_url,
    }
    with running(fake, api, worker):
        wait_http_ok(f"{fake_url}/_fake/healthz", fake)
        wait_http_ok(f"{api_url}/readyz", api)
        for attempt, count in [("first run", "3"), ("second run", "1")]:
            done = run("sh", str(SCRIPT), env={**demo_env, "DEMO_COUNT": count})
            logs = "\n".join(f"--- {p.name}:\n{p.log()}" for p in (fake, api, worker))
            assert done.returncode == 0, f"{attempt}:\n{done.stdout}\n{done.stderr}\n{logs}"
            assert f"{count}/{count} messages reached read" in done.stdout, attempt


def compose_fake_channel() -> str:
    """The fake's --channel as compose passes it, so this test follows the compose file."""
    text = (DEPLOY / "docker-compose.yml").read_text()
    [channel] = [w.strip() for w in text.split() if w.strip().startswith("--channel=")]
    return channel
