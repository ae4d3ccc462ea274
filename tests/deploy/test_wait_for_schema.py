"""The Kubernetes init container (deploy/k8s/base/wait_for_schema.py) holds the api and worker
back exactly until the migration Job has brought the schema to this image's head."""

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from db import migrate
from tests.deploy.tools import DEPLOY
from tests.support import wait_for

SCRIPT = DEPLOY / "k8s" / "base" / "wait_for_schema.py"


@pytest.fixture
def empty_database() -> Iterator[str]:
    base = os.environ.get("WAPIPE_TEST_DATABASE_URL", "postgresql+psycopg:///wapipe_test")
    url = f"{base}_schema_{uuid.uuid4().hex[:8]}"
    migrate.create_database(url)
    yield url
    migrate.drop_database(url)


def start(url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(SCRIPT)],
            env={**os.environ, "DATABASE_URL": url},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_it_waits_for_the_migration_then_lets_the_pod_start(
    empty_database: str, tmp_path: Path
) -> None:
    head = ScriptDirectory.from_config(migrate.alembic_config(empty_database)).get_current_head()
    log = tmp_path / "init.log"
    init = start(empty_database, log)
    try:
        wait_for(
            lambda: f"waiting for {head}" in log.read_text(), what="the init container waiting"
        )
        assert init.poll() is None
        migrate.upgrade(empty_database)  # what the migration Job does
        assert init.wait(timeout=15) == 0
        assert f"schema at {head}" in log.read_text()
    finally:
        init.kill()
        init.wait()


def test_it_says_when_the_database_is_unreachable_without_its_url(tmp_path: Path) -> None:
    secret_url = "postgresql+psycopg://wapipe:s3cret-pw@127.0.0.1:1/wapipe"
    log = tmp_path / "init.log"
    init = start(secret_url, log)
    try:
        wait_for(lambda: "database not reachable" in log.read_text(), what="the reason")
        assert "s3cret-pw" not in log.read_text()
    finally:
        init.kill()
        init.wait()
