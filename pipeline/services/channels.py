"""A company's channel: pausing and resuming it (its messages wait, then go on where they
were), and its send rate."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text, update

from db.models import Channel, Company
from db.session import Database
from pipeline.config import get_settings
from pipeline.crypto import PREFIX as TOKEN_PREFIX
from pipeline.crypto import TokenCipher
from pipeline.domain.errors import Conflict, NotFound, ValidationError
from pipeline.services.enqueue import enqueue_after_commit
from pipeline.services.ports import ChannelPace, TaskQueue

# The first message owed a send in each conversation of the company: the rest follow it.
_HEADS_SQL = text("""
SELECT DISTINCT ON (conversation_id) id FROM messages
WHERE company_id = :company_id AND status = 'sending' AND deleted_at IS NULL
ORDER BY conversation_id, seq
""")


@dataclass(frozen=True, slots=True)
class ChannelState:
    company_id: uuid.UUID
    company_name: str
    phone_number_id: str
    display_phone_number: str | None
    paused_at: datetime | None
    pause_reason: str | None
    pause_code: str | None
    send_rate_mps: int


def list_channels(db: Database) -> list[ChannelState]:
    query = (
        select(
            Channel.company_id,
            Company.name,
            Channel.phone_number_id,
            Channel.display_phone_number,
            Channel.paused_at,
            Channel.pause_reason,
            Channel.pause_code,
            Channel.send_rate_mps,
        )
        .join(Company, Company.id == Channel.company_id)
        .order_by(Company.name, Channel.phone_number_id)
    )
    with db.transaction() as session:
        return [ChannelState(*row) for row in session.execute(query)]


def pause_channel(db: Database, company_id: uuid.UUID, reason: str) -> None:
    """Stop sending for a company; its messages stay `sending`. Conflict if already paused."""
    with db.transaction() as session:
        paused = session.execute(
            update(Channel)
            .where(Channel.company_id == company_id, Channel.paused_at.is_(None))
            .values(paused_at=datetime.now().astimezone(), pause_reason=reason, pause_code="manual")
            .returning(Channel.id)
        ).first()
        if paused is None:
            _require_channel(db, company_id)
            raise Conflict("the channel is already paused", {"company_id": str(company_id)})


def resume_channel(db: Database, queue: TaskQueue, company_id: uuid.UUID) -> int:
    """Resume a paused channel and enqueue its waiting messages; returns how many started."""
    with db.transaction() as session:
        resumed = session.execute(
            update(Channel)
            .where(Channel.company_id == company_id, Channel.paused_at.is_not(None))
            .values(paused_at=None, pause_reason=None, pause_code=None)
            .returning(Channel.send_rate_mps)
        ).first()
        if resumed is None:
            _require_channel(db, company_id)
            raise Conflict("the channel is not paused", {"company_id": str(company_id)})
        heads = list(session.execute(_HEADS_SQL, {"company_id": company_id}).scalars())
    enqueue_after_commit(queue, heads, ChannelPace(company_id, resumed.send_rate_mps))
    return len(heads)


# Meta's highest messaging throughput tier is 1,000 messages a second per number.
MAX_SEND_RATE_MPS = 1000


def set_send_rate(db: Database, company_id: uuid.UUID, rate_mps: int) -> int:
    """Set how many messages a second the channel may send (all workers together); returns
    the rate it had. Sends are gated at it from the next claim on, and messages accepted
    from now on get slots at it; slots already given keep their times."""
    if not 1 <= rate_mps <= MAX_SEND_RATE_MPS:
        raise ValidationError(
            f"the send rate must be 1 to {MAX_SEND_RATE_MPS} messages a second",
            {"mps": rate_mps},
        )
    with db.transaction() as session:
        before = session.scalar(
            select(Channel.send_rate_mps).where(Channel.company_id == company_id).with_for_update()
        )
        if before is None:
            raise NotFound("no channel for this company", {"company_id": str(company_id)})
        session.execute(
            update(Channel).where(Channel.company_id == company_id).values(send_rate_mps=rate_mps)
        )
    return before


def channel_paces(db: Database, company_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ChannelPace]:
    """The pace of each company's channel (companies without one are left out)."""
    wanted = set(company_ids)
    if not wanted:
        return {}
    query = select(Channel.company_id, Channel.send_rate_mps).where(Channel.company_id.in_(wanted))
    with db.transaction() as session:
        return {row.company_id: ChannelPace(*row) for row in session.execute(query)}


def set_access_token(
    db: Database, company_id: uuid.UUID, access_token: str, cipher: TokenCipher | None = None
) -> None:
    """Replace a channel's access token (after Meta rejected the old one with 190); stored
    encrypted (``cipher``: by default, from the process settings)."""
    if not access_token.strip():
        raise ValidationError("the access token is empty", {"access_token": "empty"})
    cipher = cipher or TokenCipher.from_settings(get_settings())
    with db.transaction() as session:
        updated = session.execute(
            update(Channel)
            .where(Channel.company_id == company_id)
            .values(access_token=cipher.encrypt(access_token.strip()))
            .returning(Channel.id)
        ).first()
    if updated is None:
        raise NotFound("no channel for this company", {"company_id": str(company_id)})


@dataclass(frozen=True, slots=True)
class Reencrypted:
    channels: int
    were_plain: int


def reencrypt_tokens(db: Database, cipher: TokenCipher) -> Reencrypted:
    """Every channel's token under the cipher's first key, plain text ones included, in one
    transaction (so a failure changes nothing; a repeat is harmless)."""
    were_plain = 0
    with db.transaction() as session:
        rows = session.execute(
            select(Channel.id, Channel.access_token).order_by(Channel.id).with_for_update()
        ).all()
        for channel_id, stored in rows:
            were_plain += not stored.startswith(TOKEN_PREFIX)
            session.execute(
                update(Channel)
                .where(Channel.id == channel_id)
                .values(access_token=cipher.reencrypt(stored))
            )
    return Reencrypted(len(rows), were_plain)


def _require_channel(db: Database, company_id: uuid.UUID) -> None:
    with db.transaction() as session:
        if session.scalar(select(Channel.id).where(Channel.company_id == company_id)) is None:
            raise NotFound("no channel for this company", {"company_id": str(company_id)})
