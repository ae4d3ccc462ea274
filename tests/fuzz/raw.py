"""A raw HTTP/1.1 client: it writes any bytes a hostile client could, on one kept-alive socket.

http.client and requests refuse to send much of what the hostile corpus needs (broken chunked
framing, raw non-ASCII header bytes) and quietly reconnect when a connection drops, which is
the very thing the tests must see. Answers are read with http.client's parser.
"""

import contextlib
import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def closes(self) -> bool:
        """The server said it closes the connection after this answer."""
        return self.headers.get("connection", "").lower() == "close"

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str,
    target: str | bytes,
    headers: list[tuple[str | bytes, str | bytes]] = (),  # type: ignore[assignment]
    body: bytes = b"",
    *,
    chunked: bool = False,
    content_length: bool = True,
) -> bytes:
    """The bytes of one request; Host always, Content-Length for a body unless ``chunked``."""
    lines = [_b(method) + b" " + _b(target) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    lines += [_b(name) + b": " + _b(value) for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        body = chunk(body)
    elif content_length and not any(_b(name).lower() == b"content-length" for name, _ in headers):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def chunk(body: bytes, size: int = 65536) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
             for i in range(0, len(body), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\n\r\n"


def exchange(sock: socket.socket, raw: bytes) -> Answer:
    """Send ``raw`` and read one answer; raises if the server closed without answering."""
    # It may answer before reading everything (a 413): the answer is still there to read.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(raw)
    response = http.client.HTTPResponse(sock, method=raw.split(b" ", 1)[0].decode("latin-1"))
    response.begin()
    body = response.read()
    headers = {name.lower(): value for name, value in response.getheaders()}
    return Answer(response.status, headers, body)


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")
