"""Starting and stopping every process of a local pipeline, for `wapipe up`."""

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from rich.console import Console
from sqlalchemy import select, update

from db import migrate
from db.models import Channel
from db.session import Database, make_engine
from pipeline.cli.demo_content import seed_demo_templates
from pipeline.cli.processes import api_argv, metrics_env, worker_argv
from pipeline.config import get_settings
from pipeline.services import tenants
from workers.broker import QUEUES

_WAPIPE = [sys.executable, "-m", "pipeline.cli.main"]
DEMO_PHONE_NUMBER_ID = "1000001"
DEMO_ACCESS_TOKEN = "demo-access-token"  # noqa: S105 - only the local fake accepts it


@dataclass(frozen=True, slots=True)
class StackPorts:
    api: int = 8000
    fake: int = 8090


def demo_company_id(database_url: str) -> uuid.UUID:
    database = Database(make_engine(database_url, pool_size=1))
    try:
        with database.transaction() as session:
            session.execute(
                update(Channel)
                .where(Channel.phone_number_id == DEMO_PHONE_NUMBER_ID, Channel.waba_id.is_(None))
                .values(waba_id=DEMO_PHONE_NUMBER_ID)
            )  # a demo company from before templates
            found = session.scalar(
                select(Channel.company_id).where(Channel.phone_number_id == DEMO_PHONE_NUMBER_ID)
            )
    finally:
        database.dispose()
    if found is None:
        raise RuntimeError("the demo company has no channel")
    return found


def demo_api_key(database_url: str) -> str:
    """A fresh admin key for the demo company, creating the company on first run."""
    database = Database(make_engine(database_url, pool_size=1))
    try:
        with database.transaction() as session:
            company_id = session.scalar(
                select(Channel.company_id).where(Channel.phone_number_id == DEMO_PHONE_NUMBER_ID)
            )
        if company_id is None:
            return tenants.create_company(
                database,
                "Demo Company",
                DEMO_PHONE_NUMBER_ID,
                DEMO_ACCESS_TOKEN,
                "15550009999",
                waba_id=DEMO_PHONE_NUMBER_ID,
            ).api_key
        _, key = tenants.create_user(database, company_id, f"demo-{uuid.uuid4().hex[:6]}", "admin")
        return key
    finally:
        database.dispose()


class Stack:
    """The fake provider, gunicorn and dramatiq as child processes; stopped on exit."""

    def __init__(self, ports: StackPorts, console: Console) -> None:
        self.ports = ports
        self.console = console
        self.api_url = f"http://127.0.0.1:{ports.api}"
        self.fake_url = f"http://127.0.0.1:{ports.fake}"
        self.log_dir = Path(".wapipe/logs").resolve()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> str:
        settings = get_settings()
        migrate.create_database(settings.database_url)
        migrate.upgrade(settings.database_url)
        api_key = demo_api_key(settings.database_url)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.setdefault("WHATSAPP_API_BASE_URL", f"{self.fake_url}/v21.0")
        # Local development: a webhook endpoint for events may be a receiver on this machine.
        env.setdefault("WAPIPE_EVENTS_ALLOW_PRIVATE_URLS", "true")
        fake = [
            *_WAPIPE, "fake-provider",
            "--port", str(self.ports.fake),
            "--webhook-url", f"{self.api_url}/webhooks/whatsapp",
            "--channel", f"{DEMO_PHONE_NUMBER_ID}={DEMO_ACCESS_TOKEN}=15550009999",
            # A second between statuses: slow enough to watch the ticks advance in the inbox.
            "--status-delay-ms", "1000",
        ]  # fmt: skip
        self._spawn("fake-provider", fake, env)
        self._spawn("api", api_argv("127.0.0.1", self.ports.api, 2, 8), env | metrics_env("api"))
        self._spawn("worker", worker_argv(2, 4, QUEUES), env | metrics_env("worker"))
        self._wait_ready(f"{self.fake_url}/_fake/healthz", "fake provider")
        self._wait_ready(f"{self.api_url}/readyz", "API")
        # The fake's WABA id of the demo number is the number's id.
        seed_demo_templates(
            settings.model_copy(update={"whatsapp_api_base_url": env["WHATSAPP_API_BASE_URL"]}),
            self.fake_url,
            DEMO_PHONE_NUMBER_ID,
            demo_company_id(settings.database_url),
        )
        self.console.print(
            f"[green]pipeline up[/]: API {self.api_url}, fake WhatsApp {self.fake_url}, "
            f"workers on queues {', '.join(QUEUES)}"
        )
        return api_key

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        # Own session: Ctrl-C reaches us alone, and we stop the children in order.
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_ready(self, url: str, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{what} did not become ready in {timeout:.0f}s; see {self.log_dir}")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited with {process.returncode}; see {self.log_dir}")

    def wait(self) -> None:
        try:
            while True:
                self._check_alive()
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.console.print("\nstopping...")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the leader stops its own children
        deadline = time.monotonic() + 15
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> "Stack":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
