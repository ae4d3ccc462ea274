"""Chaos fixtures: private servers to kill, and a summary of every scenario's figures."""

from collections.abc import Iterator

import pytest

from db import migrate
from tests.chaos.servers import PrivatePostgres, PrivateRedis

VERDICTS: list[str] = []


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres().init()
    migrate.create_database(server.url)
    migrate.upgrade(server.url)
    yield server
    server.destroy()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if VERDICTS:
        terminalreporter.section("chaos scenarios")
        for line in VERDICTS:
            terminalreporter.write_line(line)
