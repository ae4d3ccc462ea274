"""The WhatsApp Cloud API send call: one HTTP client per process, errors classified once."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import urllib3
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from pipeline.observability.metrics import PROVIDER_REQUESTS, PROVIDER_SECONDS, count, observe
from pipeline.observability.tracing import span
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
    type: str = "text"
    # Meta's object for the type (messages.content); None for a plain text message.
    content: dict[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class MediaUpload:
    filename: str
    mime_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    url: str = field(repr=False)  # signed: as good as a credential while it lives
    mime_type: str
    size: int | None


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
        "type": message.type,
        message.type: _typed_part(message),
        "biz_opaque_callback_data": message.callback_data,
    }
    if message.reply_to_wamid and message.type != "reaction":
        payload["context"] = {"message_id": message.reply_to_wamid}
    return payload


def _typed_part(message: OutboundText) -> dict[str, Any]:
    if message.type == "text" and message.content is None:
        return {"body": message.text, "preview_url": False}
    content = dict(message.content or {})
    if message.type == "reaction":
        # Stored with our message id; Meta knows the message by its wamid.
        content["message_id"] = message.reply_to_wamid or ""
    return content


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
        with span("provider.send"):
            try:
                wamid = self._request(message)
            except ProviderError as error:
                count(PROVIDER_REQUESTS, str(error.kind), error.error_code)
                raise
            finally:
                observe(PROVIDER_SECONDS, time.perf_counter() - started)
        count(PROVIDER_REQUESTS, "accepted", "")
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

    # -- Graph calls that are not sends: no pacing, no send metrics ---------------------------
    def list_templates(self, waba_id: str, access_token: str) -> Iterator[dict[str, Any]]:
        """Every template of the business account, following `paging.next`."""
        url: str | None = f"{self._base}{waba_id}/message_templates?limit=100"
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)  # a provider that pages in a circle must not loop us forever
            page = self._get_json(url, access_token)
            data = page.get("data")
            yield from (t for t in data if isinstance(t, dict)) if isinstance(data, list) else ()
            paging = page.get("paging")
            next_url = paging.get("next") if isinstance(paging, dict) else None
            url = next_url if isinstance(next_url, str) else None

    def upload_media(self, phone_number_id: str, access_token: str, upload: MediaUpload) -> str:
        """Upload a file; the provider's media id."""
        fields = {
            "messaging_product": "whatsapp",
            "type": upload.mime_type,
            "file": (upload.filename, upload.data, upload.mime_type),
        }
        response = self._call(
            "POST", f"{self._base}{phone_number_id}/media", access_token, fields=fields
        )
        media_id = _json_of(response).get("id")
        if not isinstance(media_id, str) or not media_id:
            raise ProviderError(ErrorKind.PERMANENT, None, "upload answered without an id")
        return media_id

    def media_url(self, media_id: str, access_token: str) -> MediaInfo:
        """Where a media's bytes can be downloaded (a short-lived URL) and what they are."""
        info = self._get_json(f"{self._base}{media_id}", access_token)
        url = info.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ProviderError(ErrorKind.PERMANENT, None, "media lookup answered without a url")
        size = info.get("file_size")
        return MediaInfo(
            url=url,
            mime_type=str(info.get("mime_type") or "application/octet-stream"),
            size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        )

    def download(self, url: str, access_token: str) -> urllib3.BaseHTTPResponse:
        """The media's bytes as a stream (the caller reads and releases it)."""
        return self._call("GET", url, access_token, stream=True)

    def _get_json(self, url: str, access_token: str) -> dict[str, Any]:
        return _json_of(self._call("GET", url, access_token))

    def _call(
        self,
        method: str,
        url: str,
        access_token: str,
        fields: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        try:
            response = self._http.request(
                method,
                url,
                fields=fields,
                headers={"Authorization": f"Bearer {access_token}"},
                preload_content=not stream,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ProviderError(ErrorKind.TRANSIENT, None, type(exc).__name__) from None
        if response.status != 200:
            data = response.data
            response.release_conn()
            raise parse_error(response.status, data)
        return response

    def close(self) -> None:
        self._http.clear()


def _json_of(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    try:
        document = json.loads(response.data)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise ProviderError(ErrorKind.PERMANENT, None, "the provider answered with no JSON object")
    return document
