"""Applying provider statuses in batches: one locked read, one update, one history insert.

A batch is every status of one or more stored deliveries. The rule is the same as for a
single report (`plan_status`, over the pure `decide`): each message's reports are folded over
its locked row in timestamp order, and only the end state is written.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from db.json_rows import rows_json
from db.models import PendingStatus, table_of
from db.session import Database
from pipeline.domain.statuses import PROVIDER_STATUSES, RANK, Source, Status
from pipeline.observability.metrics import status_changed
from pipeline.services.events import record_message_events
from pipeline.services.statuses import ErrorInfo, StatusReport, history_row, plan_status
from webhooks.payloads import StatusItem

log = logging.getLogger("wapipe.webhooks")
_pending = table_of(PendingStatus)

# The columns a status report can change, read under the row lock and written back at once.
_STATE = (
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_details",
    "fbtrace_id",
    "provider_message_id",
)
_TYPES = ("text", "timestamptz", "timestamptz", "timestamptz", "timestamptz") + ("text",) * 5

# Every message a batch may touch, found by its wamid or by our id echoed back in
# biz_opaque_callback_data, locked in one order (by id) so concurrent batches cannot deadlock.
_LOCK_SQL = text(f"""
SELECT id, company_id, queued_at, {", ".join(_STATE)} FROM messages
WHERE provider_message_id = ANY(CAST(:wamids AS text[])) OR id = ANY(CAST(:ids AS uuid[]))
ORDER BY id FOR UPDATE
""")


_UPDATE_SQL = text(
    "UPDATE messages m SET updated_at = now(), "
    + ", ".join(f"{name} = v.{name}" for name in _STATE)
    + " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS v(id uuid, "
    + ", ".join(f"{name} {kind}" for name, kind in zip(_STATE, _TYPES, strict=True))
    + ") WHERE m.id = v.id"
)

# Statuses parked under a wamid this batch adopted, for the message's company only: a
# parked status carries the company of the channel it arrived on, and never crosses over.
_TAKE_PARKED_SQL = text("""
DELETE FROM pending_statuses p
USING unnest(CAST(:wamids AS text[]), CAST(:companies AS uuid[])) AS a(wamid, company_id)
WHERE p.provider_message_id = a.wamid AND p.company_id = a.company_id
RETURNING p.provider_message_id, p.payload, p.webhook_id
""")

# Parked statuses whose wamid is now recorded for a message of their company.
_TAKE_KNOWN_SQL = text("""
DELETE FROM pending_statuses p USING messages m
WHERE p.provider_message_id = ANY(CAST(:wamids AS text[]))
  AND m.provider_message_id = p.provider_message_id AND m.company_id = p.company_id
RETURNING m.company_id, p.phone_number_id, p.payload, p.webhook_id
""")

# wamids that were a retried message's before its retry, with the message's company.
_RETIRED_SQL = text("""
SELECT r.wamid, m.company_id, m.id FROM retired_wamids r JOIN messages m ON m.id = r.message_id
WHERE r.wamid = ANY(CAST(:wamids AS text[]))
""")

# Statuses parked lately whose wamid a message of their company has by now: what neither
# the record's look nor the applier's caught (see `apply_parked_known`). Only a status
# parked after a record's snapshot can be missed, and no record runs for an hour: an
# older one was seen by every record that could still commit.
PARKED_LOOKBACK_S = 3600
_KNOWN_PARKED_SQL = text("""
SELECT DISTINCT p.provider_message_id FROM pending_statuses p
JOIN messages m ON m.provider_message_id = p.provider_message_id AND m.company_id = p.company_id
WHERE p.created_at > now() - make_interval(secs => :within)
""")

_ANY_PARKED_SQL = (
    "SELECT EXISTS (SELECT 1 FROM pending_statuses WHERE provider_message_id = %(w)s) AS any"
)


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """One status of a stored delivery, with the channel it arrived for."""

    company_id: uuid.UUID
    phone_number_id: str
    item: StatusItem
    delivery_id: int | None


def apply_provider_statuses(session: Session, statuses: Iterable[ProviderStatus]) -> list[str]:
    """Apply every status, or park it until its wamid is recorded: never drop one.

    Returns the wamids parked: after the commit, `apply_parked_known` must look for them
    once more, since a worker may have recorded one of them meanwhile (see there).
    """
    wanted = []
    for status in statuses:
        if status.item.status in PROVIDER_STATUSES:
            wanted.append(status)
        else:
            log.info("ignoring provider status %r", status.item.status)
    if not wanted:
        return []
    batch = _Batch(session)
    batch.lock([s.item.id for s in wanted], [u for s in wanted if (u := _our_id(s.item))])
    batch.find_retired(wanted)
    unmatched = [s for s in wanted if not batch.match(s)]
    batch.park(unmatched)
    batch.take_parked()
    batch.write()
    return sorted({s.item.id for s in unmatched})


class _Batch:
    """The locked rows of one batch and the reports folded over them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: dict[uuid.UUID, dict[str, Any]] = {}
        self.by_wamid: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        self.reports: dict[uuid.UUID, list[StatusReport]] = defaultdict(list)
        self.adopted: dict[str, uuid.UUID] = {}
        self.parked: list[dict[str, Any]] = []
        # wamids of earlier attempts of retried messages: (company, message) by wamid.
        self.retired: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
        # History rows of statuses of an earlier attempt: recorded, never applied.
        self.stale: list[dict[str, Any]] = []

    def lock(self, wamids: list[str], ids: list[uuid.UUID]) -> None:
        found = self.session.execute(_LOCK_SQL, {"wamids": wamids, "ids": ids}).mappings()
        for row in found:
            self.rows[row["id"]] = dict(row)
            if row["provider_message_id"] is not None:
                self.by_wamid[(row["company_id"], row["provider_message_id"])] = row["id"]

    def find_retired(self, statuses: Sequence[ProviderStatus]) -> None:
        """Which wamids not recorded on a message belong to an earlier attempt of one (none
        to look for in the common case: statuses of a send already recorded)."""
        wamids = [s.item.id for s in statuses if (s.company_id, s.item.id) not in self.by_wamid]
        if wamids:
            found = self.session.execute(_RETIRED_SQL, {"wamids": wamids})
            self.retired = {wamid: (company, message) for wamid, company, message in found}

    def match(self, status: ProviderStatus) -> bool:
        """Attach the status to its message: by wamid, else by our id (adopting the wamid,
        so a status can overtake the worker's own record of the send). A status of an
        earlier attempt (a retired wamid, or our id with a wamid other than the message's)
        is recorded in the history and moves nothing."""
        wamid = status.item.id
        message_id = self.by_wamid.get((status.company_id, wamid))
        if message_id is None:
            company, retired_of = self.retired.get(wamid, (None, None))
            if retired_of is not None and company == status.company_id:
                self._record_stale(retired_of, status)
                return True
            our_id = _our_id(status.item)
            row = self.rows.get(our_id) if our_id is not None else None
            if row is None or row["company_id"] != status.company_id:
                return False
            if row["provider_message_id"] is not None:
                self._record_stale(row["id"], status)
                return True
            message_id = row["id"]
            row["provider_message_id"] = wamid
            self.by_wamid[(status.company_id, wamid)] = row["id"]
            self.adopted[wamid] = row["id"]
        self.reports[message_id].append(webhook_report(status.item, status.delivery_id))
        return True

    def _record_stale(self, message_id: uuid.UUID, status: ProviderStatus) -> None:
        report = webhook_report(status.item, status.delivery_id)
        row = history_row(message_id, report, applied=False)
        row["detail"] = (row["detail"] or {}) | {"earlier_attempt": True}
        self.stale.append(row)

    def park(self, statuses: Sequence[ProviderStatus]) -> None:
        self.parked.extend(
            {
                "provider_message_id": s.item.id,
                "company_id": s.company_id,
                "phone_number_id": s.phone_number_id,
                "payload": s.item.model_dump(mode="json", by_alias=True),
                "webhook_id": s.delivery_id,
            }
            for s in statuses
        )

    def take_parked(self) -> None:
        """Statuses parked under a wamid this batch adopted now have their message."""
        if not self.adopted:
            return
        wamids = list(self.adopted)
        companies = [self.rows[self.adopted[w]]["company_id"] for w in wamids]
        params = {"wamids": wamids, "companies": companies}
        taken = self.session.execute(_TAKE_PARKED_SQL, params).all()
        for wamid, payload, webhook_id in taken:
            report = webhook_report(StatusItem.model_validate(payload), webhook_id)
            self.reports[self.adopted[wamid]].append(report)

    def write(self) -> None:
        history: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        # The outbox: one event per applied status, as the message was right after it.
        events: list[tuple[uuid.UUID, uuid.UUID, dict[str, Any]]] = []
        for message_id, reports in self.reports.items():
            row = self.rows[message_id]
            before = dict(row)
            # Timestamp order, so the history reads as the provider's story; the end state
            # does not depend on it.
            for report in sorted(reports, key=lambda r: (r.at, RANK.get(r.status, 9))):
                decision, values = plan_status(row, report)
                row.update(values)
                history.append(history_row(message_id, report, decision.applied))
                if decision.applied:
                    _observe(message_id, report, row["queued_at"])
                    events.append((message_id, row["company_id"], dict(row)))
            if row != before:
                changed.append(row)
        if changed:
            states = ({"id": row["id"], **{name: row[name] for name in _STATE}} for row in changed)
            self.session.execute(_UPDATE_SQL, {"rows": rows_json(states)})
        record_message_events(self.session, events)
        history += self.stale
        if history:
            self.session.execute(_INSERT_HISTORY, {"rows": rows_json(history)})
        if self.parked:
            self.session.execute(insert(_pending), self.parked)


# A batch's history rows in one statement, in order: an executemany ran one INSERT per row
# in PostgreSQL (three per message sent).
_INSERT_HISTORY = text("""
INSERT INTO message_status_history (message_id, status, source, applied, at, detail)
SELECT h.message_id, h.status, h.source, h.applied, h.at, h.detail
FROM ROWS FROM (jsonb_to_recordset(CAST(:rows AS jsonb))
                AS (message_id uuid, status text, source text, applied boolean,
                    at timestamptz, detail jsonb))
     WITH ORDINALITY AS h(message_id, status, source, applied, at, detail, n)
ORDER BY h.n
""")


def _observe(message_id: uuid.UUID, report: StatusReport, queued_at: datetime) -> None:
    """Count and log an applied status (a batch that rolls back and is applied again item by
    item counts its statuses twice: rare, and never undercounted)."""
    status_changed(report.status, report.source, queued_at)
    log.info(
        "status applied",
        extra={"message_id": str(message_id), "status": str(report.status)},
    )


def apply_parked_known(db: Database, wamids: Sequence[str]) -> None:
    """Apply statuses parked under ``wamids`` whose wamid is recorded by now.

    Three looks share the work, without a lock between the applier and the worker:
    - the worker's record of a send tells whether statuses were parked under its wamid
      (in the record's own snapshot), and the worker applies them;
    - the applier, after committing a park, looks once: a record committed by then is seen;
    - a status parked while a record ran, by an applier that looked before that record
      committed, is missed by both: the sweep finds it (`apply_recently_parked`).
    """
    if not wamids:
        return
    with db.transaction() as session:
        taken = session.execute(_TAKE_KNOWN_SQL, {"wamids": list(wamids)}).all()
        statuses = [
            ProviderStatus(company_id, pnid, StatusItem.model_validate(payload), webhook_id)
            for company_id, pnid, payload, webhook_id in taken
        ]
        apply_provider_statuses(session, statuses)


def apply_recently_parked(db: Database, within_s: float = PARKED_LOOKBACK_S) -> int:
    """The sweep's look: apply statuses parked in the last ``within_s`` whose wamid is
    recorded by now; how many wamids had some."""
    with db.transaction() as session:
        wamids = list(session.execute(_KNOWN_PARKED_SQL, {"within": within_s}).scalars())
    apply_parked_known(db, wamids)
    return len(wamids)


def apply_parked_for(db: Database, wamid: str) -> None:
    """After the worker committed ``wamid`` under a row lock (a webhook or an operator
    changed the message during the send): apply the statuses parked under it."""
    # Almost always none: one cheap look in autocommit. (The usual record of a send tells
    # by itself whether any are parked.)
    if not db.run(_ANY_PARKED_SQL, {"w": wamid})[0].any:
        return
    apply_parked_known(db, [wamid])


def webhook_report(item: StatusItem, delivery_id: int | None) -> StatusReport:
    error = None
    if item.errors:
        first = item.errors[0]
        error = ErrorInfo(
            # Bounded to their columns: a provider's oversized field must not fail a batch.
            code=str(first.code)[:32] if first.code is not None else "unknown",
            title=first.title or first.message or "provider reported a failure",
            details=first.error_data.details if first.error_data else None,
        )
    return StatusReport(
        status=Status(item.status),
        at=item.at,
        source=Source.WEBHOOK,
        error=error,
        detail={"wamid": item.id, "webhook_id": delivery_id},
    )


def _our_id(item: StatusItem) -> uuid.UUID | None:
    try:
        return uuid.UUID(item.biz_opaque_callback_data) if item.biz_opaque_callback_data else None
    except ValueError:
        return None
