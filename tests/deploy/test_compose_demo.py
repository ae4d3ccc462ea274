"""The compose stack's own pieces, run on this machine against the processes compose starts
(api, worker, the fake provider with compose's channel): the image's HEALTHCHECK command finds
each process healthy where compose points it, and the demo service's script
(deploy/compose/demo-batch.sh) registers the demo company and gets its batch to `read`; a
second run (another `compose up`) finds the company and takes a new key."""

import json
import os
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from db import migrate
from tests.deploy.tools import DEPLOY, ROOT, VENV_BIN, run
from tests.e2e.processes import WAPIPE, Process, running, stack_env, wait_http_ok
from tests.support import free_port

pytestmark = pytest.mark.e2e

SCRIPT = DEPLOY / "compose" / "demo-batch.sh"


@dataclass(frozen=True)
class ComposeLike:
    env: dict[str, str]
    # Where compose's health checks look: WAPIPE_HEALTHCHECK_URL of each service.
    health_urls: dict[str, str]
    processes: tuple[Process, ...]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}:\n{p.log()}" for p in self.processes)


@pytest.fixture(scope="module")
def demo_database() -> Iterator[str]:
    # Its own database: the stack's webhook appliers must not apply other tests' webhooks.
    base = os.environ.get("WAPIPE_TEST_DATABASE_URL", "postgresql+psycopg:///wapipe_test")
    url = f"{base}_demo_{uuid.uuid4().hex[:8]}"
    migrate.create_database(url)
    migrate.upgrade(url)
    yield url
    migrate.drop_database(url)


@pytest.fixture(scope="module")
def stack(demo_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeLike]:
    logs = tmp_path_factory.mktemp("compose-like")
    api_port, fake_port, metrics_port = free_port(), free_port(), free_port()
    api_url, fake_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{fake_port}"
    env = stack_env(
        {
            "DATABASE_URL": demo_database,
            "REDIS_URL": os.environ.get("WAPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "WHATSAPP_API_BASE_URL": f"{fake_url}/v21.0",
            "WAPIPE_QUEUE_NAMESPACE": f"wapipe-demo-{uuid.uuid4().hex[:8]}",
            "WAPIPE_API_URL": api_url,
        }
    )
    fake = Process(
        "fake-provider",
        [*WAPIPE, "fake-provider", "--port", str(fake_port), compose_fake_channel(),
         "--webhook-url", f"{api_url}/webhooks/whatsapp", "--status-delay-ms", "50"],
        env,
        logs / "fake.log",
    )  # fmt: skip
    api = Process("api", [*WAPIPE, "api", "--port", str(api_port)], env, logs / "api.log")
    worker = Process(
        "worker",
        [*WAPIPE, "worker", "--processes", "1", "--metrics-port", str(metrics_port)],
        env,
        logs / "worker.log",
    )
    health_urls = {
        "api": f"{api_url}/healthz",
        "worker": f"http://127.0.0.1:{metrics_port}/healthz",
        "fakeprovider": f"{fake_url}/_fake/healthz",
    }
    with running(fake, api, worker):
        wait_http_ok(f"{fake_url}/_fake/healthz", fake)
        wait_http_ok(f"{api_url}/readyz", api)
        wait_http_ok(health_urls["worker"], worker)
        yield ComposeLike(env, health_urls, (fake, api, worker))


def compose_fake_channel() -> str:
    """The fake's --channel as compose passes it, so this test follows the compose file."""
    text = (DEPLOY / "docker-compose.yml").read_text()
    [channel] = [w.strip() for w in text.split() if w.strip().startswith("--channel=")]
    return channel


def healthcheck_argv() -> list[str]:
    """The Dockerfile's HEALTHCHECK CMD, with this interpreter for the image's `python`."""
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [cmd] = re.findall(r"^HEALTHCHECK .*? CMD (\[.*\])$", dockerfile, re.M)
    argv: list[str] = json.loads(cmd)
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]


def test_the_image_health_check_passes_where_compose_points_it(stack: ComposeLike) -> None:
    for service, url in stack.health_urls.items():
        done = run(*healthcheck_argv(), env={**stack.env, "WAPIPE_HEALTHCHECK_URL": url})
        assert done.returncode == 0, f"{service}: {done.stderr}"
    closed = f"http://127.0.0.1:{free_port()}/healthz"
    done = run(*healthcheck_argv(), env={**stack.env, "WAPIPE_HEALTHCHECK_URL": closed})
    assert done.returncode != 0


def test_the_demo_batch_reaches_read_on_first_and_later_runs(stack: ComposeLike) -> None:
    demo_env = {
        **stack.env,
        # What compose's demo service sets (docker-compose.yml), and wapipe on the PATH.
        "PATH": f"{VENV_BIN}:{stack.env['PATH']}",
        "DEMO_PHONE_NUMBER_ID": "1000001",
        "WAPIPE_ACCESS_TOKEN": "demo-access-token",
        "WAPIPE_ACTOR": "compose-demo",
    }
    for attempt, count in [("first run", "3"), ("second run", "1")]:
        done = run("sh", str(SCRIPT), env={**demo_env, "DEMO_COUNT": count})
        assert done.returncode == 0, f"{attempt}:\n{done.stdout}\n{done.stderr}\n{stack.logs()}"
        assert f"{count}/{count} messages reached read" in done.stdout, attempt
