"""Structured logs: one JSON object per line, with the ids that tie a message's lines together.

`WAPIPE_LOG_FORMAT=json|text` (json by default unless stderr is a terminal). Every line has
time, level, logger and event (the message), plus whichever of request_id, company_id,
message_id and worker are known where it was written: they live in context variables that
the API sets per request and the worker per job, so code that logs needs not pass them.
The request id comes from `X-Request-Id` (or is made) and travels with the message's job,
so the intake, the send and the worker's lines of one message share it.
"""

import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

CONTEXT_FIELDS = ("request_id", "company_id", "message_id", "worker")
_context: dict[str, ContextVar[str | None]] = {
    name: ContextVar(name, default=None) for name in CONTEXT_FIELDS
}
# A request id from outside is echoed and logged: only a short, plain token is taken.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# LogRecord attributes that are not extra fields.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def bind(**fields: object) -> None:
    """Set context fields for the rest of this request or job (None clears one)."""
    for name, value in fields.items():
        _context[name].set(None if value is None else str(value))


def current(name: str) -> str | None:
    return _context[name].get()


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Context fields for the duration of a block (a job), restored after it."""
    tokens = [
        (_context[name], _context[name].set(None if v is None else str(v)))
        for name, v in fields.items()
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def request_id_from(header: str | None) -> str:
    """The caller's request id if it is a plain token, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return os.urandom(16).hex()  # as random as a uuid4, a quarter of its cost


class Timings:
    """Step timings of one operation, logged as `<step>_ms` fields on one line: each
    `mark(step)` ends a step begun at the previous mark (or at the start)."""

    def __init__(self) -> None:
        self._started = self._last = time.perf_counter()
        self.fields: dict[str, float] = {}

    def mark(self, step: str) -> None:
        now = time.perf_counter()
        self.fields[f"{step}_ms"] = round((now - self._last) * 1000, 3)
        self._last = now

    def total(self) -> dict[str, float]:
        return self.fields | {"total_ms": round((time.perf_counter() - self._started) * 1000, 3)}


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond; the seconds' part is formatted once a second."""
    second = int(created)
    if _second_cache[0] != second:
        _second_cache[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second_cache[1]}.{int((created - second) * 1000):03d}+00:00"


_second_cache: list[Any] = [None, ""]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = _context[name].get()
            if value is not None:
                line[name] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type and where, not the message: an exception's text can quote a query's
            # parameters (a message's text, a token).
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)

    def formatException(self, ei: Any) -> str:
        exc_type, _, tb = ei
        frames = traceback.format_tb(tb)
        return "".join(frames) + f"{exc_type.__name__}\n"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := _context[name].get()) is not None
        )
        text = super().format(record)
        return f"{text} [{context}]" if context else text


def configure(log_format: str = "", level: int = logging.INFO) -> None:
    """Format every root handler's lines (Dramatiq's worker processes already log through a
    pipe to their parent: keep the stream, change the format); add one to stderr if none."""
    chosen = log_format or ("text" if sys.stderr.isatty() else "json")
    formatter: logging.Formatter = JsonFormatter() if chosen == "json" else TextFormatter()
    # Where a line was written (file, line, function), the thread's name and the process id
    # are in no line: Python's logging docs list these switches for not gathering them.
    logging._srcfile = None  # no walk up the caller's frames
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter)
    root.setLevel(level)
