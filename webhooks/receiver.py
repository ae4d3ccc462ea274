"""POST /webhooks/whatsapp as plain WSGI in front of Flask: the hottest endpoint.

Meta posts about three of these for every message sent. Each needs only the signature check,
the body's shape check and one INSERT (`receive_webhook`), and Flask's request machinery
(context, routing, response objects) cost a third of the API's CPU for them. Everything else,
the GET handshake included, goes on to Flask. Answers keep the API's error shape and codes.
"""

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.exc import OperationalError

from db.session import Database
from pipeline.api.errors import DATABASE_DOWN, error_document
from pipeline.api.observe import ROUTE_KEY
from pipeline.domain.errors import ValidationError
from webhooks.service import receive_webhook
from webhooks.signature import is_valid_signature

log = logging.getLogger("wapipe.webhooks")

PATH = "/webhooks/whatsapp"
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WebhookReceiver:
    """Serves signed webhook POSTs itself and hands every other request to ``app``."""

    def __init__(self, app: WSGIApp, db: Database, app_secret: str) -> None:
        self._app = app
        self._db = db
        self._secret = app_secret

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        environ[ROUTE_KEY] = PATH  # the metrics' route label (pipeline/api/observe.py)
        status, document = self._receive(environ)
        body = json.dumps(document).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    def _receive(self, environ: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        # The body is in memory and within the limit: pipeline.api.bodies.BodyLimit is in front.
        raw: bytes = environ["wsgi.input"].read()
        signature = environ.get("HTTP_X_HUB_SIGNATURE_256")
        if not is_valid_signature(self._secret, raw, signature):
            message = "missing or invalid X-Hub-Signature-256"
            return "401 Unauthorized", error_document("UNAUTHORIZED", message)
        try:
            delivery_id = receive_webhook(self._db, raw)
        except ValidationError as exc:
            return "400 Bad Request", error_document(exc.code, exc.message, exc.details)
        except OperationalError as exc:
            log.error("database unavailable: %s", type(exc.orig).__name__)
            return "503 Service Unavailable", error_document("UNAVAILABLE", DATABASE_DOWN)
        except Exception:
            log.exception("unhandled error storing a webhook")
            return "500 Internal Server Error", error_document("INTERNAL", "internal error")
        return "200 OK", {"received": delivery_id}
