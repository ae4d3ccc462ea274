"""The engine and the one way services open a transaction."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """One engine (and pool) per process; never created at import time.

    No pre-ping: it costs a round trip on every checkout. After a database restart the first
    statement on a stale connection fails instead (a 503 or a retried job), and SQLAlchemy
    then discards the whole pool.
    """
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)


class Database:
    """Wraps the session factory; ``transaction()`` commits on success, rolls back otherwise."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for work that is one statement (atomic by
        itself): one round trip instead of BEGIN, the statement and COMMIT."""
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """One statement (psycopg's ``%(name)s`` placeholders) in autocommit on a pooled
        connection; its rows as named tuples.

        For the hottest statements only (the intake, storing a webhook, the claim and the
        record of a send): it skips SQLAlchemy's per-statement work, a third of those
        requests' CPU, and keeps its error types, so callers and handlers see the same
        exceptions. psycopg prepares a statement run this way after a few executions.
        """
        pooled = self.engine.raw_connection()
        try:
            conn: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
            conn.autocommit = True
            try:
                with conn.cursor(row_factory=namedtuple_row) as cursor:
                    cursor.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
            finally:
                if not conn.closed:
                    conn.autocommit = False
        except psycopg.Error as exc:
            if pooled.dbapi_connection is not None and pooled.dbapi_connection.closed:
                pooled.invalidate(exc)  # a dead connection: the pool makes a new one
            raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
        finally:
            pooled.close()

    def dispose(self) -> None:
        self.engine.dispose()
