"""Each job runs with its message's ids bound for the logs, inside the trace it came from.

The request id and the trace context are put in the job's options when it is enqueued
(workers/actors.py); a retried or re-enqueued job keeps them, a job the sweep makes has none.
"""

import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy

from pipeline.observability import logs, tracing


class JobContext(dramatiq.Middleware):
    def __init__(self, node_id: Callable[[], str]) -> None:
        self._node_id = node_id
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        stack = ExitStack()
        options = message.options
        stack.enter_context(
            logs.bound(
                request_id=options.get("request_id"),
                message_id=message.args[0] if message.args else None,
                worker=self._node_id(),
                company_id=None,
            )
        )
        stack.enter_context(tracing.continued(options.get("trace")))
        self._local.stack = stack

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._unbind()

    def after_skip_message(self, broker: dramatiq.Broker, message: MessageProxy) -> None:
        self._unbind()

    def _unbind(self) -> None:
        stack: ExitStack | None = getattr(self._local, "stack", None)
        if stack is not None:
            self._local.stack = None
            stack.close()


def job_options() -> dict[str, Any]:
    """What a job carries from the code that enqueues it: the request id and trace."""
    options: dict[str, Any] = {}
    request_id = logs.current("request_id")
    if request_id:
        options["request_id"] = request_id
    trace = tracing.carrier()
    if trace:
        options["trace"] = trace
    return options
