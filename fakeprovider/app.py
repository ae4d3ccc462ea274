"""The fake Cloud API as a Flask app: the send endpoint plus /_fake admin endpoints."""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, TypeGuard

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from fakeprovider.callbacks import AcceptedSend, WebhookDispatcher
from fakeprovider.config import (
    BAD_OAUTH_MESSAGE,
    FakeConfig,
    error_body,
    error_details,
    error_message,
    http_status_for,
)
from fakeprovider.content import TemplateRefused, check_typed
from fakeprovider.content_routes import register_content_routes
from fakeprovider.state import Arrival, Channel, FakeState

_PHONE = re.compile(r"^\+?\d{7,15}$")
_UNKNOWN_ID = (
    "Unsupported post request. Object with ID '{}' does not exist, cannot be loaded due to "
    "missing permissions, or does not support this operation. Please read the Graph API "
    "documentation at https://developers.facebook.com/docs/graph-api"
)
MAX_TEXT = 4096
MAX_BIZ = 512


class InvalidSend(ValueError):
    """A send body Meta would reject with code 100; the message becomes error_data.details."""


@dataclass(frozen=True)
class SendRequest:
    to_input: str
    to: str
    biz: str | None
    category: str
    body: Any


def parse_send(raw: bytes) -> SendRequest:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidSend("Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidSend("Request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise InvalidSend("Param messaging_product must be 'whatsapp'")
    if body.get("recipient_type", "individual") != "individual":
        raise InvalidSend("Param recipient_type must be 'individual'")
    to = body.get("to")
    if not isinstance(to, str) or not _PHONE.match(to):
        raise InvalidSend("Param to must be a phone number of 7-15 digits")
    kind = body.get("type", "text")
    if kind == "text":
        text = body.get("text")
        message = text.get("body") if isinstance(text, dict) else None
        if not isinstance(message, str) or not message:
            raise InvalidSend("Param text['body'] is required")
        if len(message) > MAX_TEXT:
            raise InvalidSend(f"Param text['body'] must be at most {MAX_TEXT} characters")
        category = "service"
    elif kind == "template":
        template = body.get("template")
        name = template.get("name") if isinstance(template, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidSend("Param template['name'] is required")
        category = "utility"
    else:
        problem = check_typed(str(kind), body)
        if problem is not None:
            raise InvalidSend(problem)
        category = "service"
    context = body.get("context")
    if context is not None and not (
        isinstance(context, dict) and isinstance(context.get("message_id"), str)
    ):
        raise InvalidSend("Param context['message_id'] must be a string")
    biz = body.get("biz_opaque_callback_data")
    if biz is not None and (not isinstance(biz, str) or len(biz) > MAX_BIZ):
        raise InvalidSend(f"Param biz_opaque_callback_data must be a string of <= {MAX_BIZ}")
    return SendRequest(to_input=to, to=to.lstrip("+"), biz=biz, category=category, body=body)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def meta_error(code: int, message: str, details: str, status: int) -> Response:
    return json_response(error_body(code, message, details), status)


def injected_error(code: int) -> Response:
    body = error_body(code, error_message(code), error_details(code))
    return json_response(body, http_status_for(code))


def invalid(details: str, status: int = 400) -> Response:
    return meta_error(100, "(#100) Invalid parameter", details, status)


def _bearer(header: str) -> str:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_object() -> dict[str, Any]:
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise InvalidSend("Request body must be a JSON object")
    return data


def _refusal(
    state: FakeState, channel: Channel, config: FakeConfig, req: SendRequest
) -> int | None:
    """What Meta refuses for the content of a send: an unknown template or a wrong number of
    parameters (132001, 132000), or free-form text outside the 24-hour window (131047)."""
    if req.body.get("type") == "template":
        try:
            state.content.check_template(channel.waba_id, req.body["template"])
        except TemplateRefused as refused:
            return refused.code
        return None
    if config.enforce_window and not state.content.window_open(channel.phone_number_id, req.to):
        return 131047
    return None


def create_app(state: FakeState, dispatcher: WebhookDispatcher, stopping: threading.Event) -> Flask:
    """``stopping`` cuts injected latency and hung responses short when the server stops."""
    app = Flask("wapipe.fakeprovider")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        return invalid(f"{exc.name}: {request.method} {request.path}", exc.code or 400)

    @app.errorhandler(InvalidSend)
    def bad_admin_body(exc: InvalidSend) -> Response:
        return invalid(str(exc))

    @app.post("/<version>/<phone_number_id>/messages")
    @app.post("/<phone_number_id>/messages")
    def send(phone_number_id: str, version: str | None = None) -> Response:
        arrived = time.time()
        state.count_request()
        raw = request.get_data()  # read first: an unread body would confuse the connection
        config = state.config()
        if config.latency_ms:
            stopping.wait(config.latency_ms / 1000.0)
        token = _bearer(request.headers.get("Authorization", ""))
        channel = state.channel(phone_number_id)
        if not token:
            return meta_error(190, BAD_OAUTH_MESSAGE, BAD_OAUTH_MESSAGE, 401)
        if channel is None and config.accept_any_token:
            channel = Channel(phone_number_id, "", "", phone_number_id)
        if channel is None:
            details = _UNKNOWN_ID.format(phone_number_id)
            return meta_error(100, details, details, 400)
        if not config.accept_any_token and not hmac.compare_digest(
            token.encode(), channel.access_token.encode()
        ):
            return meta_error(190, BAD_OAUTH_MESSAGE, BAD_OAUTH_MESSAGE, 401)
        try:
            req = parse_send(raw)
        except InvalidSend as exc:
            return invalid(str(exc))
        code = state.take_rule(req.to) or _refusal(state, channel, config, req)
        if code is None and config.error_rate > 0 and state.random() < config.error_rate:
            code = state.choice(config.error_codes)
        state.record_arrival(phone_number_id, Arrival(arrived, req.to, code))
        if code is not None:
            return injected_error(code)
        wamid = state.record_accept(req.to, req.biz, req.body)
        if config.send_statuses and config.webhook_url:
            accepted = AcceptedSend(channel, wamid, req.to, req.biz, req.category, time.time())
            dispatcher.schedule_send(accepted, config)
        body = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": req.to_input, "wa_id": req.to}],
            "messages": [{"id": wamid}],
        }
        if config.timeout_rate > 0 and state.random() < config.timeout_rate:
            # Accepted but unanswered for a while: the ambiguous send a client must reconcile.
            stopping.wait(config.timeout_seconds)
        return json_response(body)

    register_content_routes(app, state)

    @app.get("/_fake/healthz")
    def healthz() -> Response:
        return json_response({"ok": True})

    @app.get("/_fake/config")
    def get_config() -> Response:
        return json_response(state.config().to_public_dict())

    @app.patch("/_fake/config")
    def patch_config() -> Response:
        try:
            return json_response(state.patch_config(_json_object()).to_public_dict())
        except (TypeError, ValueError) as exc:
            return invalid(str(exc))

    @app.put("/_fake/channels/<phone_number_id>")
    def put_channel(phone_number_id: str) -> Response:
        data = _json_object()
        token, display = data.get("access_token"), data.get("display_phone_number") or ""
        waba = data.get("waba_id") or ""
        if not isinstance(token, str) or not token:
            return invalid("access_token must be a non-empty string")
        if not isinstance(display, str) or not isinstance(waba, str):
            return invalid("display_phone_number and waba_id must be strings")
        state.put_channel(phone_number_id, token, display, waba)
        return json_response({"phone_number_id": phone_number_id, "ok": True})

    @app.get("/_fake/rules")
    def list_rules() -> Response:
        return json_response({"rules": state.rules()})

    @app.post("/_fake/rules")
    def add_rule() -> Response:
        data = _json_object()
        to, code, times = data.get("to"), data.get("code"), data.get("times", 1)
        if to is not None and not (isinstance(to, str) and _PHONE.match(to)):
            return invalid("to must be a phone number or null")
        if not _is_int(code) or not _is_int(times) or times < 1:
            return invalid("code must be an integer and times a positive integer")
        state.add_rule(to.lstrip("+") if to else None, code, times)
        return json_response({"rules": state.rules()})

    @app.delete("/_fake/rules")
    def clear_rules() -> Response:
        state.clear_rules()
        return json_response({"rules": []})

    @app.get("/_fake/sends")
    def sends() -> Response:
        return json_response(state.summary())

    @app.get("/_fake/sends/<path:biz>")
    def sends_for(biz: str) -> Response:
        return json_response(state.sends_for(biz))

    @app.get("/_fake/recipients/<recipient>")
    def recipient(recipient: str) -> Response:
        return json_response({"callbacks": state.recipient_callbacks(recipient.lstrip("+"))})

    @app.get("/_fake/arrivals/<phone_number_id>")
    def arrivals(phone_number_id: str) -> Response:
        """When each send request reached the channel (epoch seconds), in order: what a
        pacing check measures."""
        found = [{"at": a.at, "to": a.to, "code": a.code} for a in state.arrivals(phone_number_id)]
        return json_response({"arrivals": found})

    @app.get("/_fake/webhooks")
    def webhooks() -> Response:
        return json_response(dispatcher.stats())

    @app.get("/_fake/webhook-latency")
    def webhook_latency() -> Response:
        return json_response(dispatcher.latency.summary())

    @app.post("/_fake/reset")
    def reset() -> Response:
        state.reset()
        dispatcher.clear()
        dispatcher.latency.reset()
        return json_response({"ok": True})

    return app
