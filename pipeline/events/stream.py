"""GET /v1/events/stream: a company's events live, as server-sent events.

Under `wapipe api` an open stream holds no gunicorn thread: the view authenticates it like
any request (key, rate limit, JSON errors), then the worker (pipeline.events.stream_worker)
hands its socket to this process's `StreamHub`, one asyncio loop in one thread that serves
every open stream. One poller per process reads the outbox for all its streams (a few
queries a second, however many are open) and each stream writes what is its company's.

`Last-Event-ID` (header, or `?last_event_id=`) replays from the outbox what came after that
event; otherwise the stream starts at what is committed from now on. Positions are the
outbox's (txid, id) order, read only below every running transaction (see
pipeline/services/events.py), so neither the replay nor the live feed skips a late commit;
a stream's own position drops anything it already wrote.
"""

import asyncio
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from db.session import Database
from pipeline.domain.errors import ValidationError
from pipeline.services import events

log = logging.getLogger("wapipe.events.stream")

PATH = "/v1/events/stream"
KEEPALIVE_S = 15.0  # a comment this often keeps proxies and clients from timing out
POLL_S = 0.25  # how often the hub reads the outbox while a stream is open
BATCH = 500
HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Connection: close\r\n\r\n"
)
Position = tuple[int, int]
Batch = list[tuple[Position, uuid.UUID, bytes]]


def format_event(body: dict[str, Any]) -> bytes:
    data = json.dumps(body, separators=(",", ":"))
    return f"id: {body['id']}\nevent: {body['type']}\ndata: {data}\n\n".encode()


def start_position(db: Database, last_event_id: str | None) -> Position:
    """Where a stream starts: after ``last_event_id``, or at what commits from now on. An
    event no longer kept replays everything kept."""
    with db.transaction() as session:
        if not last_event_id:
            return events.head_position(session)
        event_id = events.parse_public_id(last_event_id)
        if event_id is None:
            raise ValidationError(
                "not an event id", {"last_event_id": "an `evt_...` id from this stream"}
            )
        return events.position_of(session, event_id) or (0, 0)


def read_after(
    db: Database,
    position: Position,
    company_id: uuid.UUID | None,
    wanted: frozenset[uuid.UUID] | None = None,
) -> Batch:
    """The next outbox rows after ``position`` (of one company, or all), rendered (only
    those of the ``wanted`` companies, when given: the others are passed over empty)."""
    with db.transaction() as session:
        rows = events.events_after(session, position, BATCH, company_id)
        shown = [row for row in rows if wanted is None or row.company_id in wanted]
        bodies = iter(events.render(session, shown) if shown else [])
    return [
        (
            (row.txid, row.id),
            row.company_id,
            format_event(next(bodies)) if wanted is None or row.company_id in wanted else b"",
        )
        for row in rows
    ]


def blocking_stream(db: Database, company_id: uuid.UUID, position: Position) -> Iterator[bytes]:
    """The stream for a server without a hub (the development server, a test client): it
    holds its thread while open."""
    last_write = time.monotonic()
    yield b": connected\n\n"
    while True:
        batch = read_after(db, position, company_id)
        for position, _, data in batch:  # noqa: B007 - the position moves on with each
            yield data
        if batch:
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= KEEPALIVE_S:
            last_write = time.monotonic()
            yield b": keep-alive\n\n"
        if len(batch) < BATCH:
            time.sleep(POLL_S)


class _Subscriber:
    def __init__(self, company_id: uuid.UUID, position: Position) -> None:
        self.company_id = company_id
        self.position = position
        self.queue: asyncio.Queue[Batch] = asyncio.Queue()


class StreamHub:
    """Serves every open stream of this process from one asyncio loop in one thread."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._subscribers: set[_Subscriber] = set()
        self._position: Position = (0, 0)
        self._loop = asyncio.new_event_loop()
        self._joining: asyncio.Lock | None = None
        self._thread = threading.Thread(target=self._run, name="event-streams", daemon=True)
        self._thread.start()

    @property
    def open_streams(self) -> int:
        return len(self._subscribers)

    def adopt(self, sock: socket.socket, company_id: uuid.UUID, position: Position) -> None:
        """Serve the stream on ``sock`` (this hub owns it from now on)."""
        self._loop.call_soon_threadsafe(
            lambda: self._loop.create_task(self._serve(sock, company_id, position))
        )

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._joining = asyncio.Lock()
        self._loop.create_task(self._poll())
        self._loop.run_forever()

    async def _serve(self, sock: socket.socket, company_id: uuid.UUID, position: Position) -> None:
        sock.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=sock)
        subscriber = _Subscriber(company_id, position)
        try:
            await self._join(subscriber)
            writer.write(HEAD + b": connected\n\n")
            await self._replay(subscriber, writer)
            await self._live(subscriber, reader, writer)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # the client left
        except Exception:
            log.exception("an event stream failed")
        finally:
            self._subscribers.discard(subscriber)
            writer.close()

    async def _join(self, subscriber: _Subscriber) -> None:
        # The first stream of an idle hub starts the poller at what commits from now on,
        # before its own replay reads: what the replay misses, the poller then reads.
        assert self._joining is not None
        async with self._joining:
            if not self._subscribers:
                self._position = await self._in_thread(self._head)
            self._subscribers.add(subscriber)

    async def _replay(self, subscriber: _Subscriber, writer: asyncio.StreamWriter) -> None:
        while True:
            batch = await self._in_thread(
                read_after, self._db, subscriber.position, subscriber.company_id
            )
            self._write(subscriber, batch, writer)
            await writer.drain()
            if len(batch) < BATCH:
                return

    async def _live(
        self, subscriber: _Subscriber, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        gone = asyncio.ensure_future(_until_eof(reader))
        while not gone.done():
            fetch = asyncio.ensure_future(subscriber.queue.get())
            await asyncio.wait({fetch, gone}, timeout=KEEPALIVE_S, return_when="FIRST_COMPLETED")
            if fetch.done():
                self._write(subscriber, fetch.result(), writer)
            else:
                fetch.cancel()
                writer.write(b": keep-alive\n\n")
            await writer.drain()
        gone.cancel()

    @staticmethod
    def _write(subscriber: _Subscriber, batch: Batch, writer: asyncio.StreamWriter) -> None:
        for position, company_id, data in batch:
            if company_id == subscriber.company_id and position > subscriber.position:
                writer.write(data)
                subscriber.position = position

    async def _poll(self) -> None:
        while True:
            full = False
            if self._subscribers:
                try:
                    wanted = frozenset(s.company_id for s in self._subscribers)
                    batch = await self._in_thread(
                        read_after, self._db, self._position, None, wanted
                    )
                except Exception as error:  # the poller must outlive a database restart
                    log.warning("reading the outbox failed: %s", type(error).__name__)
                    batch = []
                if batch:
                    self._position = batch[-1][0]
                    for subscriber in self._subscribers:
                        subscriber.queue.put_nowait(batch)
                full = len(batch) >= BATCH
            if not full:
                await asyncio.sleep(POLL_S)

    def _head(self) -> Position:
        with self._db.transaction() as session:
            return events.head_position(session)

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await self._loop.run_in_executor(None, fn, *args)


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass
