"""Webhook endpoints: where a company's events are delivered, signed with its secret.

Admin only. The secret is shown at creation and rotation only; it is stored encrypted like
channel tokens (pipeline/crypto.py) and never logged.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from db.models import WebhookEndpoint
from db.session import Database
from pipeline.config import Settings
from pipeline.crypto import TokenCipher
from pipeline.domain.errors import Forbidden, NotFound, ValidationError
from pipeline.events.signing import new_secret
from pipeline.events.urls import UnsafeUrl, check_scheme, check_url
from pipeline.services.audit import Operator, record_action_in
from pipeline.services.events import EVENT_TYPES
from pipeline.services.tenants import Principal

ADMIN = "admin"
# The old secret still signs this long after a rotation, so receivers can switch over.
ROTATION_OVERLAP = timedelta(hours=24)


_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# What the API stores, in the OpenAPI document too: http(s), a host name or IPv4 address
# (no credentials), an optional port, then printable ASCII.
URL_PATTERN = rf"^https?://[A-Za-z0-9._-]+(:{_PORT})?([/?#][!-~]*)?$"


def _http_url(value: str) -> str:
    try:
        check_scheme(value)
    except UnsafeUrl as exc:
        raise ValueError(str(exc)) from None
    return value


def _known_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(unknown)}")
    return sorted(set(values), key=EVENT_TYPES.index)


class CreateEndpointRequest(BaseModel):
    """The body of POST /v1/webhook-endpoints."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        str, Field(min_length=1, max_length=2048, pattern=URL_PATTERN), AfterValidator(_http_url)
    ]
    events: Annotated[
        list[str] | None,
        Field(
            min_length=1,
            max_length=len(EVENT_TYPES),
            description=f"Any of {', '.join(EVENT_TYPES)}; all when absent.",
            json_schema_extra={"items": {"type": "string", "enum": list(EVENT_TYPES)}},
        ),
        AfterValidator(lambda v: _known_types(v) if v is not None else None),
    ] = None
    description: Annotated[str | None, Field(max_length=500)] = None


def endpoint_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(endpoint.id),
        "url": endpoint.url,
        "events": list(endpoint.event_types),
        "description": endpoint.description,
        "created_at": endpoint.created_at.isoformat(),
        "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
        "disabled_reason": endpoint.disabled_reason,
    }


def create_endpoint(
    db: Database, settings: Settings, principal: Principal, request: CreateEndpointRequest
) -> dict[str, Any]:
    """A new endpoint, with its secret (shown this once)."""
    _require_admin(principal)
    _check_reachable(request.url, settings)
    secret = new_secret()
    with db.transaction() as session:
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(),
            company_id=principal.company_id,
            url=request.url,
            description=request.description,
            event_types=list(request.events or EVENT_TYPES),
            secret=TokenCipher.from_settings(settings).encrypt(secret),
        )
        session.add(endpoint)
        session.flush()
        session.refresh(endpoint)
        view = endpoint_view(endpoint)
    return {k: view[k] for k in ("id", "url", "events", "description")} | {
        "secret": secret,
        "created_at": view["created_at"],
    }


def list_endpoints(db: Database, principal: Principal) -> list[dict[str, Any]]:
    _require_admin(principal)
    with db.transaction() as session:
        found = session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.company_id == principal.company_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
        return [endpoint_view(e) for e in found]


def delete_endpoint(db: Database, principal: Principal, endpoint_id: uuid.UUID) -> None:
    """Remove it; its pending deliveries go with it."""
    _require_admin(principal)
    with db.transaction() as session:
        gone = session.execute(
            delete(WebhookEndpoint)
            .where(_owned(principal, endpoint_id))
            .returning(WebhookEndpoint.id)
        ).first()
        if gone is None:
            raise NotFound("webhook endpoint not found", {"id": str(endpoint_id)})


def rotate_secret(
    db: Database, settings: Settings, principal: Principal, endpoint_id: uuid.UUID
) -> dict[str, Any]:
    """A new secret; the current one keeps signing (beside it) for 24 hours."""
    _require_admin(principal)
    secret = new_secret()
    cipher = TokenCipher.from_settings(settings)
    with db.transaction() as session:
        rotated = session.execute(
            update(WebhookEndpoint)
            .where(_owned(principal, endpoint_id))
            .values(
                previous_secret=WebhookEndpoint.secret,
                previous_secret_until=datetime.now(UTC) + ROTATION_OVERLAP,
                secret=cipher.encrypt(secret),
            )
            .returning(WebhookEndpoint.id)
        ).first()
        if rotated is None:
            raise NotFound("webhook endpoint not found", {"id": str(endpoint_id)})
    return {"id": str(endpoint_id), "secret": secret}


def set_enabled(
    db: Database, operator: Operator, endpoint_id: uuid.UUID, enabled: bool
) -> int | None:
    """An operator's disable or enable, audited in the same transaction: the action's id, or
    None if there is no such endpoint."""
    values: dict[str, Any] = (
        {"disabled_at": None, "disabled_reason": None, "failing_since": None}
        if enabled
        else {"disabled_at": datetime.now(UTC), "disabled_reason": "operator"}
    )
    with db.transaction() as session:
        company_id = session.scalar(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(**values)
            .returning(WebhookEndpoint.company_id)
        )
        if company_id is None:
            return None
        action = "endpoints.enable" if enabled else "endpoints.disable"
        details = {"endpoint_id": str(endpoint_id)}
        return record_action_in(session, operator, action, details, company_id)


def disable_failing_endpoints(db: Database, after_hours: int) -> list[uuid.UUID]:
    """Disable the endpoints that failed every delivery for ``after_hours`` (the leader's
    maintenance); their ids."""
    cutoff = datetime.now(UTC) - timedelta(hours=after_hours)
    with db.transaction() as session:
        disabled = session.scalars(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.disabled_at.is_(None), WebhookEndpoint.failing_since < cutoff)
            .values(disabled_at=datetime.now(UTC), disabled_reason="failing")
            .returning(WebhookEndpoint.id)
        )
        return list(disabled)


def all_endpoints(session: Session, company_id: uuid.UUID | None) -> list[WebhookEndpoint]:
    """Every endpoint (of one company), for operators."""
    statement = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at)
    if company_id is not None:
        statement = statement.where(WebhookEndpoint.company_id == company_id)
    return list(session.scalars(statement))


def _check_reachable(url: str, settings: Settings) -> None:
    try:
        check_url(url, settings.wapipe_events_allow_private_urls)
    except UnsafeUrl as exc:
        raise ValidationError("the URL is not allowed", {"url": str(exc)}) from None


def _owned(principal: Principal, endpoint_id: uuid.UUID) -> Any:
    return (WebhookEndpoint.id == endpoint_id) & (
        WebhookEndpoint.company_id == principal.company_id
    )


def _require_admin(principal: Principal) -> None:
    if principal.role != ADMIN:
        raise Forbidden("only an admin may manage webhook endpoints", {"role": principal.role})
