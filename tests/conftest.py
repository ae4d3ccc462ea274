"""Fixtures over real PostgreSQL and Redis: one database per test session (and xdist worker)."""

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import dramatiq
import pytest
from dramatiq import Worker
from flask import Flask
from flask.testing import FlaskClient

from db import migrate
from fakeprovider import FakeConfig, FakeProvider
from pipeline.api.app import create_app
from pipeline.bootstrap import Container, bootstrap
from pipeline.config import Settings
from pipeline.services import tenants
from tests.cli_support import Wapipe
from tests.support import serve_app

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"


def _test_database_url() -> str:
    # One database per run (and xdist worker), so runs side by side never share tables.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = os.environ.get("WAPIPE_TEST_DATABASE_URL", "postgresql+psycopg:///wapipe_test")
    return f"{base}_{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database, migrated by Alembic (so the migrations are tested too)."""
    url = _test_database_url()
    migrate.drop_database(url)
    migrate.create_database(url)
    migrate.upgrade(url)
    yield url
    migrate.drop_database(url)


@pytest.fixture(scope="session")
def fake_provider() -> Iterator[FakeProvider]:
    config = FakeConfig(app_secret=APP_SECRET, status_delay_ms=30)
    with FakeProvider(config) as provider:
        yield provider


@pytest.fixture(scope="session")
def settings(database_url: str, fake_provider: FakeProvider) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=os.environ.get("WAPIPE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        whatsapp_api_base_url=fake_provider.api_url,
        whatsapp_app_secret=APP_SECRET,
        whatsapp_verify_token=VERIFY_TOKEN,
        wapipe_queue_namespace=f"wapipe-test-{uuid.uuid4().hex[:8]}",
        wapipe_retry_min_backoff_ms=100,
        wapipe_retry_max_backoff_ms=400,
        wapipe_http_timeout_seconds=2.0,
        wapipe_max_attempts=4,
        # In-process workers serve no metrics port (the e2e stack's worker does).
        wapipe_metrics_port=0,
    )


@pytest.fixture(scope="session")
def container(settings: Settings) -> Iterator[Container]:
    c = bootstrap(settings)
    yield c
    for queue in c.broker.get_declared_queues():
        c.broker.flush(queue)
    c.close()


@pytest.fixture(scope="session")
def app(container: Container) -> Flask:
    return create_app(container=container)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def live_url(app: Flask, fake_provider: FakeProvider) -> Iterator[str]:
    """The app on a real socket; the fake provider posts its status webhooks here."""
    with serve_app(app) as url:
        fake_provider.state.patch_config({"webhook_url": f"{url}/webhooks/whatsapp"})
        yield url


@pytest.fixture
def worker(container: Container, live_url: str) -> Iterator[Worker]:
    """A real Dramatiq worker on real Redis, consuming this session's queues."""
    dramatiq.set_broker(container.broker)
    w = Worker(container.broker, worker_threads=4, worker_timeout=100)
    w.start()
    yield w
    w.stop(timeout=10_000)


@dataclass(frozen=True)
class Tenant:
    company_id: uuid.UUID
    api_key: str
    phone_number_id: str
    access_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_tenant(container: Container, fake_provider: FakeProvider) -> Tenant:
    pnid = str(uuid.uuid4().int % 10**15)
    token = f"token-{uuid.uuid4().hex}"
    new = tenants.create_company(container.db, "Test Co", pnid, token, "15550009999")
    fake_provider.add_channel(pnid, token, "15550009999")
    return Tenant(new.company_id, new.api_key, pnid, token)


@pytest.fixture
def tenant(container: Container, fake_provider: FakeProvider) -> Tenant:
    return make_tenant(container, fake_provider)


@pytest.fixture
def other_tenant(container: Container, fake_provider: FakeProvider) -> Tenant:
    return make_tenant(container, fake_provider)


@dataclass(frozen=True)
class Member:
    """A user of a tenant's company with an API key of their own."""

    company_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str
    role: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_member(container: Container, tenant: Tenant, role: str, name: str = "") -> Member:
    user_id, api_key = tenants.create_user(
        container.db, tenant.company_id, name or f"{role} {uuid.uuid4().hex[:6]}", role
    )
    return Member(tenant.company_id, user_id, api_key, role)


@pytest.fixture
def agent(container: Container, tenant: Tenant) -> Member:
    """An agent of `tenant`'s company."""
    return make_member(container, tenant, "agent")


@pytest.fixture
def admin(container: Container, tenant: Tenant) -> Member:
    """An admin of `tenant`'s company (besides its owner, whose key is `tenant.api_key`)."""
    return make_member(container, tenant, "admin")


@pytest.fixture
def wapipe(settings: Settings) -> Wapipe:
    """The `wapipe` CLI in-process, on this session's database and queues (80 columns)."""
    return Wapipe(settings)
