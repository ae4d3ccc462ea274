"""OpenTelemetry traces: spans for the intake, the delivery (claim, provider call, record) and
the webhook processing, one trace from the API's request to the worker's send.

Exported with OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set (the SDK reads the
standard OTEL_* variables); otherwise no SDK is installed and `span` hands out one shared
do-nothing context (the API's no-op span still attached and detached a context each time:
a twentieth of a delivery's CPU for its four spans). The trace context travels in the job's
options (W3C traceparent), so the worker's spans continue the request's trace.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context, propagate, trace

tracer = trace.get_tracer("wapipe")
_configured = False
_NO_SPAN = nullcontext(trace.INVALID_SPAN)


def span(name: str) -> AbstractContextManager[trace.Span]:
    """A span named ``name``, current inside the block; nothing at all while tracing is off."""
    if not _configured:
        return _NO_SPAN
    return tracer.start_as_current_span(name)


def configure(service_name: str) -> bool:
    """Install the SDK and the OTLP exporter if an endpoint is set; True if it was."""
    global _configured
    if _configured or not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return _configured
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or service_name
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
    return True


def flush() -> None:
    """Export what is buffered (a process about to stop)."""
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush()


def carrier() -> dict[str, str]:
    """The current trace context, to put in a job's options."""
    headers: dict[str, str] = {}
    if _configured:
        propagate.inject(headers)
    return headers


@contextmanager
def continued(headers: Mapping[str, Any] | None) -> Iterator[None]:
    """Run a block inside the trace context a job carried (or none)."""
    if not _configured or not headers:
        yield
        return
    token = context.attach(propagate.extract(dict(headers)))
    try:
        yield
    finally:
        context.detach(token)
