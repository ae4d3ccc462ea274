"""The events outbox: written in the same transaction as the change each event reports.

A message event stores only the message's status columns as they were at the change (the
rest of a message never changes), so the hot paths add one small row per change; the body
is rendered when it is delivered or streamed: the message as `GET /v1/messages/{id}` shows it,
with those columns. A conversation event stores the conversation's whole view (conversation
changes are rare and come from the API).

Readers (the fan-out to endpoints, the stream) order the outbox by (txid, id) and read only
events of transactions older than every transaction still running: an event committed late
with a lower id is then never skipped by a reader that has moved past it.
"""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Insert, func, insert, literal, select, text
from sqlalchemy.orm import Session

from db.json_rows import rows_json
from db.models import Conversation, Event, Message, table_of
from pipeline.services import conversation_queries
from pipeline.services.messages import message_view

MESSAGE_STATUS = "message.status"
MESSAGE_RECEIVED = "message.received"
CONVERSATION_UPDATED = "conversation.updated"
EVENT_TYPES = (MESSAGE_STATUS, MESSAGE_RECEIVED, CONVERSATION_UPDATED)
PREFIX = "evt_"

_events = table_of(Event)
_messages = table_of(Message)

# The columns of a message a change can move: what a message event keeps of it.
SNAPSHOT = (
    "status",
    "provider_message_id",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_details",
    "attempts",
)
_TIMES = {"sent_at", "delivered_at", "read_at", "failed_at"}


def snapshot_sql(alias: str) -> str:
    """The snapshot of row ``alias`` as a jsonb expression, for statements written in SQL."""
    pairs = ", ".join(f"'{name}', {alias}.{name}" for name in SNAPSHOT)
    return f"jsonb_build_object({pairs})"


def snapshot_returning() -> str:
    """The columns a RETURNING clause needs for ``snapshot_sql``."""
    return ", ".join(SNAPSHOT)


def message_events_sql(source: str, kind: str = MESSAGE_STATUS) -> str:
    """An INSERT of one event per row of the CTE ``source`` (id, company_id, SNAPSHOT)."""
    return (
        "INSERT INTO events (company_id, type, message_id, data) "
        f"SELECT company_id, '{kind}', id, {snapshot_sql(source)} FROM {source}"
    )


def message_event_from(changed: Any) -> Insert:
    """An INSERT of one `message.status` event per row of the CTE ``changed``."""
    c = changed.c
    data = func.jsonb_build_object(*(part for name in SNAPSHOT for part in (name, c[name])))
    rows = select(c.company_id, literal(MESSAGE_STATUS), c.id, data)
    return insert(_events).from_select(["company_id", "type", "message_id", "data"], rows)


def snapshot_returning_columns() -> list[Any]:
    return [_messages.c.id, _messages.c.company_id, *(_messages.c[n] for n in SNAPSHOT)]


# The webhook applier's events in one statement, in the batch's order. An executemany ran
# one INSERT per row in PostgreSQL (two per message sent).
_INSERT_MESSAGE_EVENTS = text(f"""
INSERT INTO events (company_id, type, message_id, data)
SELECT e.company_id, '{MESSAGE_STATUS}', e.message_id, e.data
FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb))
                AS (company_id uuid, message_id uuid, data jsonb))
     WITH ORDINALITY AS e(company_id, message_id, data, n)
ORDER BY e.n
""")


def record_message_events(
    session: Session, changes: Sequence[tuple[uuid.UUID, uuid.UUID, Mapping[str, Any]]]
) -> None:
    """One INSERT of a `message.status` event per (message id, company id, state after the
    change), in order."""
    if changes:
        rows = (
            {
                "company_id": company_id,
                "message_id": message_id,
                "data": {name: state[name] for name in SNAPSHOT if name in state},
            }
            for message_id, company_id, state in changes
        )
        session.execute(_INSERT_MESSAGE_EVENTS, {"rows": rows_json(rows)})


def record_conversation_event(
    session: Session, company_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """A `conversation.updated` event with the conversation as the API shows it now (in the
    change's transaction); a deleted one carries `deleted_at`."""
    row = session.execute(
        # The view's select without its "live only" filter: a deletion is an event too.
        conversation_queries._VIEW.add_columns(Conversation.deleted_at).where(
            Conversation.id == conversation_id, Conversation.company_id == company_id
        )
    ).first()
    if row is None:
        return
    data = conversation_queries.conversation_view(row) | {"deleted_at": _jsonable(row.deleted_at)}
    session.execute(
        insert(_events).values(company_id=company_id, type=CONVERSATION_UPDATED, data=data)
    )


def public_id(event_id: int) -> str:
    return f"{PREFIX}{event_id}"


def parse_public_id(value: str) -> int | None:
    """The outbox id of ``evt_N``; None for anything else."""
    digits = value.strip().removeprefix(PREFIX)
    return int(digits) if digits.isdigit() and len(digits) < 19 else None


def render(session: Session, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The bodies of outbox rows (id, type, company_id, message_id, data, created_at)."""
    ids = {row.message_id for row in rows if row.message_id is not None}
    messages = {}
    if ids:
        # Core rows, not ORM entities: message_view reads the same attributes, at a
        # fraction of the cost (a dispatcher renders every event it delivers).
        found = session.execute(select(_messages).where(_messages.c.id.in_(ids)))
        messages = {m.id: message_view(cast(Message, m)) for m in found}
    bodies = []
    for row in rows:
        data = row.data
        if row.message_id is not None:
            data = _overlay(messages.get(row.message_id), row.data)
        bodies.append(
            {
                "id": public_id(row.id),
                "type": row.type,
                "timestamp": row.created_at.isoformat(),
                "data": data,
            }
        )
    return bodies


def _overlay(view: dict[str, Any] | None, snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """The message's view with its status columns as they were at the event."""
    if view is None:  # never pruned; kept defensive for a hand-deleted row
        return {"id": None} | dict(snapshot)
    view = dict(view)
    for name in ("status", "provider_message_id", "attempts"):
        if name in snapshot:
            view[name] = snapshot[name]
    for name in _TIMES & snapshot.keys():
        value = snapshot[name]
        view[name] = datetime.fromisoformat(value).isoformat() if value else None
    if "error_code" in snapshot:
        view["error"] = (
            {
                "code": snapshot["error_code"],
                "title": snapshot.get("error_title"),
                "details": snapshot.get("error_details"),
            }
            if snapshot["error_code"] is not None
            else None
        )
    return view


# Outbox rows after a (txid, id) position, of transactions that have all ended: a running
# transaction's events show up only once every older reader position is behind them.
_AFTER = """
SELECT id, type, company_id, message_id, data, created_at, txid FROM events
WHERE (txid, id) > (:txid, :id)
  AND txid < (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint
  {company}
ORDER BY txid, id LIMIT :limit
"""


def events_after(
    session: Session,
    position: tuple[int, int],
    limit: int,
    company_id: uuid.UUID | None = None,
) -> list[Any]:
    """Outbox rows after ``position`` (txid, id), oldest first, of one company or all."""
    sql = _AFTER.format(company="AND company_id = :company" if company_id else "")
    params = {"txid": position[0], "id": position[1], "limit": limit, "company": company_id}
    return list(session.execute(text(sql), params))


def position_of(session: Session, event_id: int) -> tuple[int, int] | None:
    """The (txid, id) of an outbox row still kept."""
    row = session.execute(select(Event.txid, Event.id).where(Event.id == event_id)).first()
    return (row.txid, row.id) if row is not None else None


def head_position(session: Session) -> tuple[int, int]:
    """A position just before whatever is committed from now on."""
    row = session.execute(
        text(
            "SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint - 1 AS txid, "
            "COALESCE(max(id), 0) AS id FROM events"
        )
    ).one()
    # Every event of a transaction below xmin is visible: start just under xmin, so
    # events of transactions still running (txid >= xmin) all come after this position.
    return (int(row.txid), 2**62)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
