"""Delivering one message: claim it, call the provider with no transaction open, record."""

import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Insert, func, insert, text, update
from sqlalchemy.orm import Session

from db.models import DeliveryAttempt, Message, table_of
from db.session import Database
from pipeline.config import Settings
from pipeline.crypto import SecretKeyError, TokenCipher
from pipeline.domain.statuses import Source, Status
from pipeline.faults import crash_point
from pipeline.observability.metrics import AMBIGUOUS_RESENDS, status_changed
from pipeline.observability.tracing import span
from pipeline.provider.client import OutboundText, WhatsAppClient
from pipeline.provider.errors import (
    ErrorKind,
    ProviderError,
    holds_channel,
    min_backoff_ms,
    retry_budget,
    throttle_backoff_ms,
)
from pipeline.services.enqueue import READY_WITHIN_MS, enqueue_after_commit
from pipeline.services.events import message_events_sql, snapshot_returning
from pipeline.services.leases import LeaseBook
from pipeline.services.owed import head_of_line
from pipeline.services.ports import ChannelPace, PacingUnavailable, SendGate, TaskQueue
from pipeline.services.statuses import ErrorInfo, StatusReport, apply_status, plan_status
from webhooks.apply import apply_parked_for, apply_parked_known

log = logging.getLogger("wapipe.delivery")
_messages = table_of(Message)
_attempts = table_of(DeliveryAttempt)

# Lease owners that are not a worker: a message held through a backoff, or through the
# reconciliation wait after an ambiguous send.
BACKOFF, AMBIGUOUS = "backoff", "ambiguous"


class Outcome(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    RETRY = "retry"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    outcome: Outcome
    retry_in_ms: int | None = None
    error: ProviderError | None = None


# The claim, in one statement: lease a message still owed a send, unless another worker
# holds it, its channel is paused, or an earlier message of its conversation is still owed
# one (order per contact). `previous_owner` tells how the last attempt ended: a worker's id
# means that worker died or timed out mid-send, so the provider may already have the
# message; `ambiguous` means the reconciliation wait after that found nothing, and the send
# this claim makes may be a second one: it is counted. The row is read and locked by its
# key in `old` and every condition is checked there: the UPDATE names the row by its key
# alone, so no other index can look cheaper to the planner.
_CLAIM_SQL = f"""
WITH old AS (
    SELECT id, lease_owner, status, deleted_at, lease_expires_at, conversation_id
    FROM messages WHERE id = %(id)s FOR UPDATE
)
UPDATE messages m SET
    lease_owner = %(owner)s,
    lease_expires_at = now() + make_interval(secs => %(lease_seconds)s),
    attempts = m.attempts + 1,
    ambiguous_resends = m.ambiguous_resends
        + (old.lease_owner IS NOT DISTINCT FROM 'ambiguous')::int,
    updated_at = now()
FROM channels c, old
WHERE m.id = %(id)s AND c.company_id = m.company_id AND c.paused_at IS NULL
  AND old.status = 'sending' AND old.deleted_at IS NULL
  AND (old.lease_expires_at IS NULL OR old.lease_expires_at <= now())
  AND {head_of_line("old")} = old.id
RETURNING m.id, m.company_id, m.conversation_id, m.to_phone, m.text, m.type, m.content,
          m.attempts, m.earlier_attempts,
          c.send_rate_mps,
          m.sent_at, c.phone_number_id, c.access_token, now() AS claimed_at,
          old.lease_owner AS previous_owner,
          now() - m.queued_at > make_interval(secs => %(max_age)s) AS expired, m.queued_at,
          (SELECT r.provider_message_id FROM messages r
            WHERE r.id = m.reply_to_message_id) AS reply_to_wamid
"""

# Why a claim failed: finished, paused, leased (for how long), or behind an earlier message.
_UNCLAIMED_SQL = text(f"""
SELECT m.status, m.conversation_id, c.paused_at IS NOT NULL AS paused,
       m.company_id, c.send_rate_mps,
       GREATEST(0, EXTRACT(EPOCH FROM m.lease_expires_at - now()) * 1000)::bigint AS lease_ms,
       {head_of_line("m")} <> m.id AS blocked
FROM messages m JOIN channels c ON c.company_id = m.company_id
WHERE m.id = :id
""")

# The conversation's next message owed a send, other than the one just done: started when
# the one before it is done.
_NEXT_IN_LINE_SQL = text("""
SELECT id FROM messages
WHERE conversation_id = :conversation_id AND id <> :done
  AND status = 'sending' AND deleted_at IS NULL
ORDER BY seq LIMIT 1
""")

# The worker's record of a send, in one autocommit statement: the change the pure rule
# planned (from the state the claim saw), its history row and the attempt, guarded by that
# state. Under our lease only a webhook or an operator can change the row, and both move it
# out of `sending`; then the guard fails and the change is made under a row lock instead.
# It also names the conversation's next message owed a send, writes its event (outbox),
# and tells whether statuses are parked under the wamid (their webhook overtook this record).
_RECORD_SENT_SQL = f"""
WITH changed AS (
    UPDATE messages SET status = %(status)s, sent_at = %(sent_at)s,
        provider_message_id = COALESCE(provider_message_id, %(wamid)s),
        lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
    WHERE id = %(id)s AND lease_owner = %(owner)s AND status = 'sending'
      AND sent_at IS NOT DISTINCT FROM %(seen_sent_at)s
    RETURNING id, conversation_id, company_id, {snapshot_returning()}
), event AS (
    {message_events_sql("changed")} WHERE %(applied)s
), history AS (
    INSERT INTO message_status_history (message_id, status, source, applied, at, detail)
    SELECT id, 'sent', 'worker', %(applied)s, %(at)s, CAST(%(detail)s AS jsonb) FROM changed
), attempt AS (
    INSERT INTO delivery_attempts (message_id, attempt, worker, started_at, outcome,
                                   provider_message_id)
    SELECT id, %(attempt)s, %(owner)s, %(started_at)s, 'sent', %(wamid)s FROM changed
)
SELECT (SELECT n.id FROM messages n
        WHERE n.conversation_id = changed.conversation_id AND n.id <> changed.id
          AND n.status = 'sending' AND n.deleted_at IS NULL
        ORDER BY n.seq LIMIT 1) AS next_id,
       EXISTS (SELECT 1 FROM pending_statuses p
               WHERE p.provider_message_id = %(wamid)s) AS parked
FROM changed
"""

# A channel-halting error (token expired, account locked, spam restriction) pauses the
# channel instead of failing every queued message; the attempt does not count against
# the message, which stays `sending` until an operator resumes the channel.
_HALT_SQL = text("""
WITH channel AS (
    UPDATE channels SET paused_at = COALESCE(paused_at, now()),
                        pause_reason = COALESCE(pause_reason, :reason),
                        pause_code = COALESCE(pause_code, :code)
    WHERE company_id = :company_id
)
UPDATE messages SET lease_owner = NULL, lease_expires_at = NULL,
                    attempts = GREATEST(attempts - 1, 0), updated_at = now()
WHERE id = :id AND lease_owner = :owner
""")


# A claim given back without counting the attempt: the send waits for its channel's slot,
# or for a worker that can read the channel's token. The lease is kept until then (so no
# twin job sends before it, and the sweep knows when the job is due).
_GIVE_BACK_SQL = """
UPDATE messages SET lease_owner = 'backoff',
    lease_expires_at = now() + make_interval(secs => %(wait_s)s),
    enqueued_at = now() + make_interval(secs => %(wait_s)s),
    attempts = GREATEST(attempts - 1, 0), updated_at = now()
WHERE id = %(id)s AND lease_owner = %(owner)s
"""

# The message's latest attempts' error codes, newest first: how many rate limits in a row.
_RECENT_ERRORS_SQL = text("""
SELECT error_code FROM delivery_attempts WHERE message_id = :id ORDER BY id DESC LIMIT :n
""")

# While Redis (the pacing store) does not answer, a claimed message waits this long rather
# than be sent unpaced.
_PACING_DOWN_WAIT_MS = 1_000
# A paced job comes due within about 100 ms of its slot (how often workers look for due
# jobs; a slot closer than that is not delayed at all), so the window may still be full
# for a few ms: wait that out holding the claim, not at the back of the channel's schedule.
_GATE_PATIENCE_MS = READY_WITHIN_MS
# A message whose channel's token this worker cannot decrypt (its WAPIPE_SECRET_KEY lacks the
# key the token was stored under) is tried again after this, by whichever worker takes the
# job: it waits, owed and unsent, for a worker with the right key, and uses no attempt.
_UNREADABLE_TOKEN_WAIT_MS = 60_000
# That is logged at most this often per process: a backlog would log every message.
_UNREADABLE_TOKEN_LOG_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class Claim:
    """A leased message and everything its send needs."""

    id: uuid.UUID
    company_id: uuid.UUID
    conversation_id: uuid.UUID
    to_phone: str
    text: str | None
    attempts: int
    phone_number_id: str
    access_token: str = field(repr=False)
    claimed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    expired: bool = False
    reply_to_wamid: str | None = None
    previous_owner: str | None = None
    sent_at: datetime | None = None
    # Attempts of the rounds before the latest retry: attempt numbers go on from them.
    earlier_attempts: int = 0
    send_rate_mps: int = 80
    queued_at: datetime | None = None
    type: str = "text"
    content: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def channel(self) -> ChannelPace:
        return ChannelPace(self.company_id, self.send_rate_mps)

    @property
    def attempt_number(self) -> int:
        """This attempt's number over the message's life, retries included."""
        return self.earlier_attempts + self.attempts

    @property
    def outcome_unknown(self) -> bool:
        """The last attempt's worker died or timed out holding it: it may have been sent."""
        return self.previous_owner not in (None, BACKOFF, AMBIGUOUS)

    def outbound(self) -> OutboundText:
        return OutboundText(
            phone_number_id=self.phone_number_id,
            access_token=self.access_token,
            to=self.to_phone,
            text=self.text or "",
            callback_data=str(self.id),
            reply_to_wamid=self.reply_to_wamid,
            type=self.type,
            content=self.content,
        )


@dataclass(frozen=True, slots=True)
class Deliverer:
    """Delivers messages; built once per worker process."""

    db: Database
    client: WhatsAppClient
    queue: TaskQueue
    settings: Settings
    worker_id: str
    # The worker node's heartbeat renews the leases of the messages held here.
    leases: LeaseBook = field(default_factory=LeaseBook)
    # Keeps each channel's send rate across all workers; None only for a Deliverer a test
    # drives by hand.
    gate: SendGate | None = None

    def deliver(self, message_id: uuid.UUID) -> DeliveryResult:
        with span("delivery"):
            with span("delivery.claim"):
                try:
                    claim = self._claim(message_id)
                except SecretKeyError as error:
                    return self._unreadable_token(message_id, error)
            if claim is None:
                return self._unclaimed(message_id)
            if claim.previous_owner == AMBIGUOUS:
                AMBIGUOUS_RESENDS.inc()  # counted by the claim in `ambiguous_resends` too
            with self.leases.holding(claim.id):
                return self._deliver_claimed(claim)

    def _deliver_claimed(self, claim: Claim) -> DeliveryResult:
        crash_point("worker_after_claim")
        if claim.outcome_unknown:
            # Do not resend blindly: give a status webhook carrying our id the same window
            # an ambiguous send gets to adopt the wamid; resend (counted) only after it.
            delay = self.settings.wapipe_ambiguous_wait_ms
            self._hold_until_retry(claim, delay, ErrorKind.AMBIGUOUS, outcome="takeover")
            return DeliveryResult(Outcome.RETRY, retry_in_ms=delay)
        if claim.expired:
            error = ErrorInfo("expired", "not delivered within the maximum delivery age")
            self._fail(claim, error, "expired")
            return DeliveryResult(Outcome.FAILED)
        if (waiting := self._await_send_slot(claim)) is not None:
            return waiting
        try:
            wamid = self.client.send_text(claim.outbound())
        except ProviderError as error:
            return self._after_error(claim, error)
        crash_point("worker_after_send")
        with span("delivery.record"):
            self._record_sent(claim, wamid)
        log.info(
            "message sent",
            extra={"message_id": str(claim.id), "wamid": wamid, "attempt": claim.attempt_number},
        )
        return DeliveryResult(Outcome.SENT)

    def _claim(self, message_id: uuid.UUID) -> Claim | None:
        params = {
            "id": message_id,
            "owner": self.worker_id,
            "lease_seconds": self.settings.wapipe_lease_seconds,
            "max_age": self.settings.wapipe_max_delivery_age_seconds,
        }
        rows = self.db.run(_CLAIM_SQL, params)
        if not rows:
            return None
        # Stored encrypted; the plain token lives only in this Claim (repr=False).
        row = rows[0]._asdict()
        row["access_token"] = TokenCipher.from_settings(self.settings).decrypt(row["access_token"])
        return Claim(**row)

    def _unreadable_token(self, message_id: uuid.UUID, error: SecretKeyError) -> DeliveryResult:
        """Claimed, but this worker cannot read the channel's token: give the claim back
        unused rather than fail the message or let it wait on a dead worker's lease."""
        wait_ms = _UNREADABLE_TOKEN_WAIT_MS
        params = {"id": message_id, "owner": self.worker_id, "wait_s": wait_ms / 1000}
        self.db.run(_GIVE_BACK_SQL, params)
        now = time.monotonic()
        if now - _unreadable_logged[0] >= _UNREADABLE_TOKEN_LOG_EVERY_S:
            _unreadable_logged[0] = now
            log.error(
                "cannot decrypt a channel's access token (%s); its messages wait for a worker "
                "whose WAPIPE_SECRET_KEY holds that key (logged at most every %.0f s)",
                error,
                _UNREADABLE_TOKEN_LOG_EVERY_S,
                extra={"message_id": str(message_id)},
            )
        return DeliveryResult(Outcome.RETRY, retry_in_ms=wait_ms)

    def _await_send_slot(self, claim: Claim) -> DeliveryResult | None:
        """None: the gate admitted this send. Else the claim is given back (the attempt not
        counted) until the slot the gate reserved for it. While Redis does not answer,
        nothing is sent unpaced: the message waits and asks again."""
        if self.gate is None:
            return None
        try:
            wait_ms = self._admit(self.gate, claim.channel)
        except PacingUnavailable as exc:
            log.warning("pacing unavailable; message %s waits: %s", claim.id, exc)
            wait_ms = _PACING_DOWN_WAIT_MS
        if wait_ms <= 0:
            return None
        params = {"id": claim.id, "owner": self.worker_id, "wait_s": wait_ms / 1000}
        self.db.run(_GIVE_BACK_SQL, params)
        return DeliveryResult(Outcome.RETRY, retry_in_ms=wait_ms)

    @staticmethod
    def _admit(gate: SendGate, channel: ChannelPace) -> int:
        """0 once admitted, sleeping through short waits (a few times); else the wait for
        the slot the gate reserved."""
        for _ in range(3):
            wait_ms = gate.admit(channel, _GATE_PATIENCE_MS)
            if not 0 < wait_ms <= _GATE_PATIENCE_MS:
                return wait_ms
            time.sleep(wait_ms / 1000)
        return gate.admit(channel)

    def _unclaimed(self, message_id: uuid.UUID) -> DeliveryResult:
        """Not claimable. Done: start the next message in line. Paused, or waiting behind an
        earlier message: drop the job (a resume, or that message, starts it again). Leased:
        look again when the lease runs out, since it may belong to a worker that died."""
        with self.db.transaction() as session:
            row = session.execute(_UNCLAIMED_SQL, {"id": message_id}).first()
            if row is None:
                return DeliveryResult(Outcome.SKIPPED)
            next_id = None
            if row.status != Status.SENDING:
                next_id = _next_in_line(session, row.conversation_id, message_id)
        if next_id is not None:
            channel = ChannelPace(row.company_id, row.send_rate_mps)
            enqueue_after_commit(self.queue, [next_id], channel)
        if row.status != Status.SENDING or row.blocked or row.paused:
            return DeliveryResult(Outcome.SKIPPED)
        return DeliveryResult(Outcome.RETRY, retry_in_ms=int(row.lease_ms) + 250)

    def _after_error(self, claim: Claim, error: ProviderError) -> DeliveryResult:
        if error.kind is ErrorKind.CHANNEL_HALT:
            self._halt(claim, error)
            return DeliveryResult(Outcome.SKIPPED, error=error)
        if error.kind is ErrorKind.THROTTLED:
            return self._throttled(claim, error)
        info = ErrorInfo(error.error_code, error.title, error.details, error.fbtrace_id)
        budget = retry_budget(error.code, self.settings.wapipe_max_attempts)
        if error.kind is ErrorKind.PERMANENT or claim.attempts >= budget:
            self._fail(claim, info, "failed", error)
            return DeliveryResult(Outcome.FAILED, error=error)
        delay = self._backoff_ms(error, claim.attempts)
        self._hold_until_retry(claim, delay, error.kind, error=error)
        return DeliveryResult(Outcome.RETRY, retry_in_ms=delay, error=error)

    def _throttled(self, claim: Claim, error: ProviderError) -> DeliveryResult:
        """A rate limit is no fault of the message: it backs off without using an attempt
        (bounded by the maximum delivery age). 131056 (this recipient) waits 4^n seconds;
        the others (130429: the number's throughput) also hold the whole channel."""
        streak = self._throttle_streak(claim.id, error.error_code)
        delay = throttle_backoff_ms(
            error.code,
            streak,
            self.settings.wapipe_retry_min_backoff_ms,
            self.settings.wapipe_retry_max_backoff_ms,
        )
        if holds_channel(error.code):
            self._hold_channel(claim, delay)
        delay = int(delay * random.uniform(1.0, 1.25))  # never early; a burst spreads out
        self._hold_until_retry(
            claim, delay, error.kind, error=error, outcome="throttled", counted=False
        )
        return DeliveryResult(Outcome.RETRY, retry_in_ms=delay, error=error)

    def _throttle_streak(self, message_id: uuid.UUID, code: str) -> int:
        """How many of the message's latest attempts in a row ended with ``code``."""
        with self.db.transaction() as session:
            recent = session.execute(_RECENT_ERRORS_SQL, {"id": message_id, "n": 8}).scalars()
            streak = 0
            for seen in recent:
                if seen != code:
                    break
                streak += 1
        return streak

    def _hold_channel(self, claim: Claim, ms: int) -> None:
        if self.gate is None:
            return
        try:
            self.gate.hold(claim.channel, ms)
        except PacingUnavailable as exc:  # the message's own backoff still applies
            log.warning("could not hold the channel of company %s: %s", claim.company_id, exc)

    def _backoff_ms(self, error: ProviderError, attempts: int) -> int:
        base = min_backoff_ms(
            error.code, error.kind, attempts, self.settings.wapipe_retry_min_backoff_ms
        )
        capped = min(base, self.settings.wapipe_retry_max_backoff_ms)
        delay = int(random.uniform(capped / 2, capped))  # jitter spreads a burst of retries
        if error.kind is ErrorKind.AMBIGUOUS:
            delay = max(delay, self.settings.wapipe_ambiguous_wait_ms)
        return delay

    def _hold_until_retry(
        self,
        claim: Claim,
        delay_ms: int,
        kind: ErrorKind,
        error: ProviderError | None = None,
        outcome: str | None = None,
        counted: bool = True,
    ) -> None:
        # Keep the lease through the backoff, so a stray twin job cannot send early; the
        # scheduled retry finds it expired and claims the message again. `enqueued_at` is
        # when that retry is due, so the sweeper leaves it alone until then. An attempt
        # not `counted` (a rate limit) is given back to the message's budget.
        ambiguous = kind is ErrorKind.AMBIGUOUS
        due = func.now() + timedelta(milliseconds=delay_ms)
        attempts = _messages.c.attempts - (0 if counted else 1)
        with self.db.transaction() as session:
            session.execute(
                update(_messages)
                .where(_messages.c.id == claim.id, _messages.c.lease_owner == self.worker_id)
                .values(
                    lease_owner=AMBIGUOUS if ambiguous else BACKOFF,
                    lease_expires_at=due,
                    enqueued_at=due,
                    attempts=func.greatest(attempts, 0),
                )
            )
            outcome = outcome or ("ambiguous" if ambiguous else "retry")
            self._record_attempt(session, claim, outcome, error)

    def _halt(self, claim: Claim, error: ProviderError) -> None:
        log.warning("pausing the channel of company %s: %s", claim.company_id, error)
        params = {
            "company_id": claim.company_id,
            "id": claim.id,
            "owner": self.worker_id,
            "reason": error.title,
            "code": error.error_code,
        }
        with self.db.transaction() as session:
            session.execute(_HALT_SQL, params)
            self._record_attempt(session, claim, "halted", error)

    def _record_sent(self, claim: Claim, wamid: str) -> None:
        report = StatusReport(Status.SENT, _now(), Source.WORKER, detail={"wamid": wamid})
        seen = {"status": Status.SENDING.value, "sent_at": claim.sent_at}
        seen |= dict.fromkeys(("delivered_at", "read_at", "failed_at"))
        decision, values = plan_status(seen, report)
        rows = self.db.run(
            _RECORD_SENT_SQL,
            {
                "id": claim.id,
                "owner": self.worker_id,
                "seen_sent_at": claim.sent_at,
                "status": values.get("status", Status.SENDING.value),
                "sent_at": values.get("sent_at", claim.sent_at),
                "wamid": wamid,
                "applied": decision.applied,
                "at": report.at,
                "detail": json.dumps(report.detail),
                "attempt": claim.attempt_number,
                "started_at": claim.claimed_at,
            },
        )
        if rows and decision.applied:
            status_changed(Status.SENT, Source.WORKER, claim.queued_at)
        if rows:
            next_id = rows[0].next_id
            # Statuses parked before the record's snapshot. One parked while it ran (by an
            # applier that looked before our commit, committing after our look) is taken
            # by that applier's look after its commit, or else by the next sweep.
            if rows[0].parked:
                apply_parked_known(self.db, [wamid])
        else:
            next_id = self._record_sent_locked(claim, wamid, report)
            apply_parked_for(self.db, wamid)  # after the commit: see apply_parked_known
        if next_id is not None:
            enqueue_after_commit(self.queue, [next_id], claim.channel)

    def _record_sent_locked(
        self, claim: Claim, wamid: str, report: StatusReport
    ) -> uuid.UUID | None:
        """The record of a send whose row changed under the lease (a webhook overtook it,
        or an operator cancelled it): the same rule, applied under the row lock."""
        report = replace(
            report,
            # Recorded even if a webhook already moved it on (and kept if one adopted it).
            always={
                "provider_message_id": func.coalesce(_messages.c.provider_message_id, wamid),
                "lease_owner": None,
                "lease_expires_at": None,
            },
        )
        attempt = self._attempt(claim, "sent", wamid=wamid)
        with self.db.transaction() as session:
            apply_status(session, claim.id, report, also=[attempt])
            return _next_in_line(session, claim.conversation_id, claim.id)

    def _fail(
        self, claim: Claim, info: ErrorInfo, outcome: str, error: ProviderError | None = None
    ) -> None:
        report = StatusReport(
            Status.FAILED,
            _now(),
            Source.WORKER,
            error=info,
            on_applied={"lease_owner": None, "lease_expires_at": None},
        )
        attempt = self._attempt(claim, outcome, error, error_code=info.code)
        with self.db.transaction() as session:
            decision = apply_status(session, claim.id, report, also=[attempt])
            next_id = _next_in_line(session, claim.conversation_id, claim.id)
        if decision is not None and decision.applied:
            status_changed(Status.FAILED, Source.WORKER)
        log.info("message failed", extra={"message_id": str(claim.id), "code": info.code})
        if next_id is not None:
            enqueue_after_commit(self.queue, [next_id], claim.channel)

    def _record_attempt(
        self,
        session: Session,
        claim: Claim,
        outcome: str,
        error: ProviderError | None = None,
        wamid: str | None = None,
        error_code: str | None = None,
    ) -> None:
        session.execute(self._attempt(claim, outcome, error, wamid, error_code))

    def _attempt(
        self,
        claim: Claim,
        outcome: str,
        error: ProviderError | None = None,
        wamid: str | None = None,
        error_code: str | None = None,
    ) -> Insert:
        return insert(_attempts).values(
            message_id=claim.id,
            attempt=claim.attempt_number,
            worker=self.worker_id,
            started_at=claim.claimed_at,
            outcome=outcome,
            error_code=error.error_code if error else error_code,
            error_title=error.title if error else None,
            http_status=error.http_status if error else None,
            fbtrace_id=error.fbtrace_id if error else None,
            provider_message_id=wamid,
        )


def _next_in_line(
    session: Session, conversation_id: uuid.UUID, done: uuid.UUID
) -> uuid.UUID | None:
    next_id: uuid.UUID | None = session.execute(
        _NEXT_IN_LINE_SQL, {"conversation_id": conversation_id, "done": done}
    ).scalar()
    return next_id


# When this process last logged an unreadable token (monotonic seconds).
_unreadable_logged = [float("-inf")]


def _now() -> datetime:
    return datetime.now(UTC)
