"""gunicorn's worker for `wapipe api`, handing open event streams to an asyncio hub.

gthread serves a request on one of its threads until the answer is written: a stream that
stays open would hold its thread for good (2 workers x 8 threads: 16 streams would stop the
API). This worker runs GET /v1/events/stream through the application like any request
(authentication, rate limit, JSON errors), and when the view accepts it, gives the socket to
the process's StreamHub (pipeline.events.stream) and frees the thread at once.
"""

import socket
import threading
import uuid
from typing import Any

from gunicorn.http import wsgi

from db.session import Database
from pipeline.api.server import JsonErrorsThreadWorker
from pipeline.api.stream import ADOPT
from pipeline.events.stream import PATH, Position, StreamHub


class StreamingThreadWorker(JsonErrorsThreadWorker):
    """JsonErrorsThreadWorker whose event streams hold no thread."""

    def init_process(self) -> None:
        self._hub: StreamHub | None = None
        self._hub_lock = threading.Lock()
        self._handed_over: set[Any] = set()
        super().init_process()

    def handle_request(self, req: Any, conn: Any) -> bool:
        if req.path != PATH or req.method != "GET":
            return bool(super().handle_request(req, conn))
        resp, environ = wsgi.create(req, conn.sock, conn.client, conn.server, self.cfg)
        environ["wsgi.multithread"] = True
        accepted: list[tuple[Database, uuid.UUID, Position]] = []
        environ[ADOPT] = lambda db, company_id, position: accepted.append(
            (db, company_id, position)
        )
        respiter = self.wsgi(environ, resp.start_response)
        try:
            if accepted:
                self._hand_over(conn, *accepted[0])
                return False
            for item in respiter:
                resp.write(item)
            resp.close()
        finally:
            if hasattr(respiter, "close"):
                respiter.close()
        return not resp.should_close()

    def finish_request(self, conn: Any, fs: Any) -> None:
        if conn in self._handed_over:
            # The hub writes on its own copy of the socket: close ours without the
            # graceful shutdown, which would end the stream.
            self._handed_over.discard(conn)
            self.nr_conns -= 1
            conn.sock.close()
            return
        super().finish_request(conn, fs)

    def _hand_over(self, conn: Any, db: Database, company_id: uuid.UUID, pos: Position) -> None:
        sock: socket.socket = conn.sock.dup()
        self._handed_over.add(conn)
        self._hub_for(db).adopt(sock, company_id, pos)

    def _hub_for(self, db: Database) -> StreamHub:
        with self._hub_lock:
            if self._hub is None:
                self._hub = StreamHub(db)
            return self._hub
