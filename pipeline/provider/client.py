"""The WhatsApp Cloud API send call: one HTTP client per process, errors classified once."""

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from pipeline.observability.metrics import PROVIDER_REQUESTS, PROVIDER_SECONDS
from pipeline.observability.tracing import tracer
from pipeline.provider.errors import ErrorKind, ProviderError, classify_code


@dataclass(frozen=True, slots=True)
class OutboundText:
    """Everything one send needs; built by the delivery service from the claimed row."""

    phone_number_id: str
    # Never in a repr (a log line, a traceback's locals, an error report).
    access_token: str = field(repr=False)
    to: str  # E.164
    text: str = field(repr=False)
    callback_data: str  # our message id, echoed back in every status webhook
    reply_to_wamid: str | None = None


class WhatsAppClient(Protocol):
    def send_text(self, message: OutboundText) -> str:
        """Send ``message`` and return the provider's message id (wamid)."""
        ...


def _worth_retrying_now(exc: BaseException) -> bool:
    # Only blips where the provider certainly did not take the message: it answered with a
    # transient error, or the connection never opened. A timeout after the request left is
    # ambiguous and goes back to the delivery service, never resent blindly here.
    return isinstance(exc, ProviderError) and exc.kind is ErrorKind.TRANSIENT


def build_payload(message: OutboundText) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to.lstrip("+"),
        "type": "text",
        "text": {"body": message.text, "preview_url": False},
        "biz_opaque_callback_data": message.callback_data,
    }
    if message.reply_to_wamid:
        payload["context"] = {"message_id": message.reply_to_wamid}
    return payload


def parse_error(status: int, body: bytes) -> ProviderError:
    """Turn a non-200 answer into a classified ProviderError (branching on error.code only)."""
    try:
        document = json.loads(body)
        error = (document.get("error") if isinstance(document, dict) else None) or {}
    except ValueError:
        error = {}
    if not isinstance(error, dict):
        error = {}
    code = error.get("code") if isinstance(error.get("code"), int) else None
    data = error.get("error_data") or {}
    details = data.get("details") if isinstance(data, dict) else None
    return ProviderError(
        kind=classify_code(code, status),
        code=code,
        title=str(error.get("message") or f"HTTP {status}")[:500],
        details=str(details)[:2000] if details else None,
        http_status=status,
        fbtrace_id=error.get("fbtrace_id"),
    )


# Failures where the request certainly never reached the provider.
_NOT_SENT = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    urllib3.exceptions.EmptyPoolError,
    urllib3.exceptions.ClosedPoolError,
)


class HttpWhatsAppClient:
    """Talks to any server that speaks the Cloud API wire format (Meta, or our fake).

    urllib3 with a keep-alive pool per host: a send is a few hundred microseconds of CPU,
    about a third of what httpx took (the worker's largest cost after the database).
    """

    def __init__(self, base_url: str, timeout_seconds: float, tries: int) -> None:
        self._base = base_url.rstrip("/") + "/"
        self._http = urllib3.PoolManager(
            num_pools=4,
            # One connection per worker thread is enough; a burst beyond it is not refused.
            maxsize=32,
            timeout=urllib3.Timeout(connect=min(timeout_seconds, 5.0), read=timeout_seconds),
            # Retries are ours (tenacity below, then the delivery service), never urllib3's.
            retries=False,
        )
        self._send_with_retries = retry(
            retry=retry_if_exception(_worth_retrying_now),
            stop=stop_after_attempt(max(tries, 1)),
            wait=wait_random_exponential(multiplier=0.2, max=2),
            reraise=True,
        )(self._send_once)

    def send_text(self, message: OutboundText) -> str:
        return self._send_with_retries(message)

    def _send_once(self, message: OutboundText) -> str:
        """One request to the provider, counted and timed (each in-process try apart)."""
        started = time.perf_counter()
        with tracer.start_as_current_span("provider.send"):
            try:
                wamid = self._request(message)
            except ProviderError as error:
                PROVIDER_REQUESTS.labels(str(error.kind), error.error_code).inc()
                raise
            finally:
                PROVIDER_SECONDS.observe(time.perf_counter() - started)
        PROVIDER_REQUESTS.labels("accepted", "").inc()
        return wamid

    def _request(self, message: OutboundText) -> str:
        try:
            response = self._http.request(
                "POST",
                f"{self._base}{message.phone_number_id}/messages",
                body=json.dumps(build_payload(message)).encode(),
                headers={
                    "Authorization": f"Bearer {message.access_token}",
                    "Content-Type": "application/json",
                },
            )
        except _NOT_SENT as exc:
            raise ProviderError(ErrorKind.TRANSIENT, None, type(exc).__name__) from None
        except urllib3.exceptions.HTTPError as exc:
            # Sent (or partly sent) and no answer: the provider may have accepted it.
            raise ProviderError(ErrorKind.AMBIGUOUS, None, type(exc).__name__) from None
        if response.status != 200:
            raise parse_error(response.status, response.data)
        try:
            return str(json.loads(response.data)["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError):
            raise ProviderError(
                ErrorKind.AMBIGUOUS, None, "200 without a message id", http_status=200
            ) from None

    def close(self) -> None:
        self._http.clear()
