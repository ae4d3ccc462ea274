"""Companies, their channel, users and API keys; and who an API key belongs to."""

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import ApiKey, Channel, Company, User
from db.session import Database
from pipeline.config import get_settings
from pipeline.crypto import TokenCipher
from pipeline.domain.errors import Conflict, NotFound, Unauthorized, ValidationError

ROLES = ("admin", "agent")
_KEY_PREFIX = "wap_"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller, as its API key alone decides: its company and the acting user."""

    company_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    key_id: uuid.UUID | None = None
    # Requests a second this key may make; None: the deployment's WAPIPE_API_RATE_LIMIT.
    rate_limit: int | None = None


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
    cipher: TokenCipher | None = None,
    window_policy: str = "off",
) -> NewCompany:
    """Create a company, its WhatsApp channel and an admin user with a new API key.

    The access token is stored encrypted (``cipher``: by default, from the process settings).
    """
    if not name.strip() or not phone_number_id.strip() or not access_token.strip():
        raise ValidationError("name, phone number id and access token are required")
    stored_token = (cipher or TokenCipher.from_settings(get_settings())).encrypt(
        access_token.strip()
    )
    company_id = uuid.uuid4()
    try:
        with db.transaction() as session:
            session.execute(
                insert(Company).values(
                    id=company_id, name=name.strip(), window_policy=window_policy
                )
            )
            session.execute(
                insert(Channel).values(
                    company_id=company_id,
                    phone_number_id=phone_number_id.strip(),
                    access_token=stored_token,
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
    session.execute(insert(User).values(id=user_id, company_id=company_id, name=name, role=role))
    _, api_key = add_key(session, company_id, user_id)
    return user_id, api_key


def add_key(
    session: Session, company_id: uuid.UUID, user_id: uuid.UUID, rate_limit: int | None = None
) -> tuple[uuid.UUID, str]:
    """A new API key for a user, in the caller's transaction: its id and the key (shown once)."""
    key_id = uuid.uuid4()
    api_key = _new_key()
    session.execute(
        insert(ApiKey).values(
            id=key_id,
            company_id=company_id,
            user_id=user_id,
            key_hash=hash_key(api_key),
            prefix=api_key[: len(_KEY_PREFIX) + 6],
            rate_limit=rate_limit,
        )
    )
    return key_id, api_key


# A live key and its user, and the key's last use noted in the same round trip. This runs on
# a cache miss only (once per WAPIPE_AUTH_CACHE_SECONDS per key and process), and writes at
# most once a minute per key: `last_used_at` is exact to the minute, and costs no write per
# request.
_AUTHENTICATE_SQL = text("""
WITH live AS (
    SELECT k.id, k.company_id, k.user_id, k.rate_limit, k.last_used_at, u.role
    FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL
), used AS (
    UPDATE api_keys SET last_used_at = now()
    FROM live
    WHERE api_keys.id = live.id
      AND (live.last_used_at IS NULL OR live.last_used_at < now() - interval '1 minute')
)
SELECT id, company_id, user_id, rate_limit, role FROM live
""")


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

    def clear(self) -> None:
        self._found.clear()

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
    with db.statement() as conn:
        row = conn.execute(_AUTHENTICATE_SQL, {"key_hash": key_hash}).first()
    if row is None:
        raise Unauthorized("missing or invalid API key")
    principal = Principal(row.company_id, row.user_id, row.role, row.id, row.rate_limit)
    if cache is not None:
        cache.put(key_hash, principal)
    return principal


def describe_team(db: Database, principal: Principal) -> dict[str, Any]:
    """The caller's company, the caller and the company's users (the inbox's assignees)."""
    with db.transaction() as session:
        company = session.execute(
            select(Company.id, Company.name).where(Company.id == principal.company_id)
        ).one()
        users = session.execute(
            select(User.id, User.name, User.role)
            .where(User.company_id == principal.company_id)
            .order_by(User.name, User.id)
        ).all()
    people = [{"id": str(u.id), "name": u.name, "role": u.role} for u in users]
    me = next(p for p in people if p["id"] == str(principal.user_id))
    return {
        "company": {"id": str(company.id), "name": company.name},
        "me": {"user_id": me["id"], "name": me["name"], "role": me["role"]},
        "users": people,
    }
