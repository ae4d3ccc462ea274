"""Companies, their channel, users and API keys; and who an API key belongs to."""

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import ApiKey, Channel, Company, User
from db.session import Database
from pipeline.domain.errors import Conflict, NotFound, Unauthorized, ValidationError

ROLES = ("admin", "agent")
_KEY_PREFIX = "wap_"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as its API key alone decides: its company and the acting user."""

    company_id: uuid.UUID
    user_id: uuid.UUID
    role: str


@dataclass(frozen=True, slots=True)
class NewCompany:
    company_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str


def hash_key(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode()).digest()


def _new_key() -> str:
    return _KEY_PREFIX + secrets.token_urlsafe(32)


def create_company(
    db: Database,
    name: str,
    phone_number_id: str,
    access_token: str,
    display_phone_number: str | None = None,
    waba_id: str | None = None,
) -> NewCompany:
    """Create a company, its WhatsApp channel and an admin user with a new API key."""
    if not name.strip() or not phone_number_id.strip() or not access_token.strip():
        raise ValidationError("name, phone number id and access token are required")
    company_id = uuid.uuid4()
    try:
        with db.transaction() as session:
            session.execute(insert(Company).values(id=company_id, name=name.strip()))
            session.execute(
                insert(Channel).values(
                    company_id=company_id,
                    phone_number_id=phone_number_id.strip(),
                    access_token=access_token.strip(),
                    display_phone_number=display_phone_number,
                    waba_id=waba_id,
                )
            )
            user_id, api_key = _add_user(session, company_id, "owner", "admin")
    except IntegrityError as exc:
        raise Conflict(
            "a channel with this phone number id already exists",
            {"phone_number_id": phone_number_id},
        ) from exc
    return NewCompany(company_id, user_id, api_key)


def create_user(db: Database, company_id: uuid.UUID, name: str, role: str) -> tuple[uuid.UUID, str]:
    """Add a user to a company and return its id and a new API key (shown once)."""
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}", {"role": role})
    with db.transaction() as session:
        if session.get(Company, company_id) is None:
            raise NotFound("company not found")
        return _add_user(session, company_id, name, role)


def _add_user(
    session: Session, company_id: uuid.UUID, name: str, role: str
) -> tuple[uuid.UUID, str]:
    user_id = uuid.uuid4()
    api_key = _new_key()
    session.execute(insert(User).values(id=user_id, company_id=company_id, name=name, role=role))
    session.execute(
        insert(ApiKey).values(
            company_id=company_id,
            user_id=user_id,
            key_hash=hash_key(api_key),
            prefix=api_key[: len(_KEY_PREFIX) + 6],
        )
    )
    return user_id, api_key


class PrincipalCache:
    """Keys recently found valid, for ``ttl_seconds``: a request then needs no round trip
    to authenticate. A revoked key or a changed role is seen within that time."""

    # Bounded: when full it is emptied (valid keys are few; a flood of them is not normal).
    MAX_KEYS = 10_000

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._found: dict[bytes, tuple[float, Principal]] = {}

    def get(self, key_hash: bytes) -> Principal | None:
        hit = self._found.get(key_hash)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def put(self, key_hash: bytes, principal: Principal) -> None:
        if self._ttl <= 0:
            return
        if len(self._found) >= self.MAX_KEYS:
            self._found.clear()
        self._found[key_hash] = (time.monotonic() + self._ttl, principal)


def authenticate(
    db: Database, api_key: str | None, cache: PrincipalCache | None = None
) -> Principal:
    """Resolve an API key to its company and user, or raise Unauthorized."""
    if not api_key or not api_key.startswith(_KEY_PREFIX):
        raise Unauthorized("missing or invalid API key")
    key_hash = hash_key(api_key)
    known = cache.get(key_hash) if cache is not None else None
    if known is not None:
        return known
    query = (
        select(ApiKey.company_id, ApiKey.user_id, User.role)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    with db.statement() as conn:
        row = conn.execute(query).first()
    if row is None:
        raise Unauthorized("missing or invalid API key")
    principal = Principal(row.company_id, row.user_id, row.role)
    if cache is not None:
        cache.put(key_hash, principal)
    return principal
