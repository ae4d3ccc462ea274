"""The engine and the one way services open a transaction."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine
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
    def autocommit_session(self) -> Iterator[Session]:
        """A session whose every statement commits by itself: for work that is one
        statement, or several that need no atomicity together."""
        with self.statement() as conn, Session(bind=conn) as session:
            yield session

    @contextmanager
    def statement(self) -> Iterator[Connection]:
        """A connection in autocommit mode, for work that is one statement (atomic by
        itself): one round trip instead of BEGIN, the statement and COMMIT."""
        with self.engine.connect() as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    def dispose(self) -> None:
        self.engine.dispose()
