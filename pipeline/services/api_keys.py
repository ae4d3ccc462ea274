"""Operators manage API keys: list, create, revoke, rotate; every change is audited.

A key is named by its id or by the prefix `wapipe keys list` shows (`wap_AbCdEf`); the key
itself is stored hashed and shown once, when it is made.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, or_, select, update
from sqlalchemy.orm import Session

from db.models import ApiKey, Company, User
from db.session import Database
from pipeline.domain.errors import Conflict, NotFound, ValidationError
from pipeline.services.audit import Operator, record_action_in
from pipeline.services.tenants import add_key


@dataclass(frozen=True, slots=True)
class KeyView:
    id: uuid.UUID
    prefix: str
    user_id: uuid.UUID
    user_name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    rate_limit: int | None

    def as_dict(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {
            "id": str(self.id),
            "prefix": self.prefix,
            "user_id": str(self.user_id),
            "user": self.user_name,
            "role": self.role,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "rate_limit": self.rate_limit,
        }


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: the only time ``api_key`` is known."""

    id: uuid.UUID
    user_id: uuid.UUID
    api_key: str = ""
    rate_limit: int | None = None
    replaced: uuid.UUID | None = None
    action_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": str(self.id),
            "user_id": str(self.user_id),
            "api_key": self.api_key,
            "rate_limit": self.rate_limit,
            "replaced": str(self.replaced) if self.replaced else None,
            "action_id": self.action_id,
        }


def list_keys(
    db: Database, company_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> list[KeyView]:
    """A company's keys (a user's, with ``user_id``), revoked ones included, oldest first."""
    query = (
        select(
            ApiKey.id,
            ApiKey.prefix,
            ApiKey.user_id,
            User.name,
            User.role,
            ApiKey.created_at,
            ApiKey.last_used_at,
            ApiKey.revoked_at,
            ApiKey.rate_limit,
        )
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.company_id == company_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    )
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    with db.transaction() as session:
        _require_company(session, company_id)
        return [KeyView(*row) for row in session.execute(query)]


def create_key(
    db: Database,
    operator: Operator,
    company_id: uuid.UUID,
    user_id: uuid.UUID | None = None,
    rate_limit: int | None = None,
) -> NewKey:
    """A new key for a user of the company (by default its first admin, the owner)."""
    _check_rate(rate_limit)
    with db.transaction() as session:
        _require_company(session, company_id)
        owner = _user_of(session, company_id, user_id)
        key_id, api_key = add_key(session, company_id, owner, rate_limit)
        details = {"key_id": str(key_id), "user_id": str(owner), "rate_limit": rate_limit}
        action_id = record_action_in(session, operator, "keys.create", details, company_id)
    return NewKey(key_id, owner, api_key, rate_limit, None, action_id)


def revoke_keys(
    db: Database,
    operator: Operator,
    company_id: uuid.UUID,
    keys: tuple[str, ...] = (),
    user_id: uuid.UUID | None = None,
) -> tuple[list[uuid.UUID], int]:
    """Revoke the named keys (or every live key of ``user_id``): (revoked ids, audit id).

    A key already revoked is left as it is; a key of another company is NotFound.
    """
    if not keys and user_id is None:
        raise ValidationError("name the keys to revoke, or a user whose keys to revoke")
    with db.transaction() as session:
        _require_company(session, company_id)
        found = [_find_key(session, company_id, key, user_id) for key in keys]
        if not keys and user_id is not None:
            _user_of(session, company_id, user_id)
            found = list(
                session.scalars(
                    select(ApiKey.id).where(
                        ApiKey.company_id == company_id,
                        ApiKey.user_id == user_id,
                        ApiKey.revoked_at.is_(None),
                    )
                )
            )
        revoked = list(
            session.scalars(
                update(ApiKey)
                .where(ApiKey.id.in_(found), ApiKey.revoked_at.is_(None))
                .values(revoked_at=func.now())
                .returning(ApiKey.id)
            )
        )
        details = {"revoked": [str(k) for k in revoked]}
        action_id = record_action_in(session, operator, "keys.revoke", details, company_id)
    return revoked, action_id


def rotate_key(
    db: Database,
    operator: Operator,
    company_id: uuid.UUID,
    key: str | None = None,
    user_id: uuid.UUID | None = None,
    rate_limit: int | None = None,
) -> NewKey:
    """Replace a live key with a new one for the same user, in one transaction: the old key
    is revoked (refused within WAPIPE_AUTH_CACHE_SECONDS) and the new one keeps its rate
    limit unless ``rate_limit`` gives another."""
    _check_rate(rate_limit)
    with db.transaction() as session:
        _require_company(session, company_id)
        old_id = _key_to_rotate(session, company_id, key, user_id)
        old = session.execute(
            update(ApiKey)
            .where(ApiKey.id == old_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiKey.user_id, ApiKey.rate_limit)
        ).first()
        if old is None:
            raise Conflict("the key is already revoked", {"key": str(old_id)})
        rate = rate_limit if rate_limit is not None else old.rate_limit
        key_id, api_key = add_key(session, company_id, old.user_id, rate)
        details = {"key_id": str(key_id), "replaced": str(old_id), "rate_limit": rate}
        action_id = record_action_in(session, operator, "keys.rotate", details, company_id)
    return NewKey(key_id, old.user_id, api_key, rate, old_id, action_id)


def _check_rate(rate_limit: int | None) -> None:
    if rate_limit is not None and rate_limit < 1:
        raise ValidationError("the rate must be at least 1 request a second", {"rate": rate_limit})


def _require_company(session: Session, company_id: uuid.UUID) -> None:
    if session.get(Company, company_id) is None:
        raise NotFound("company not found", {"company_id": str(company_id)})


def _user_of(session: Session, company_id: uuid.UUID, user_id: uuid.UUID | None) -> uuid.UUID:
    """The given user, if it belongs to the company; else the company's first admin."""
    query = select(User.id).where(User.company_id == company_id)
    if user_id is not None:
        query = query.where(User.id == user_id)
    else:
        query = query.where(User.role == "admin").order_by(User.created_at, User.id).limit(1)
    found = session.scalar(query)
    if found is None:
        raise NotFound("user not found in this company", {"user_id": str(user_id)})
    return found


def _find_key(
    session: Session, company_id: uuid.UUID, key: str, user_id: uuid.UUID | None
) -> uuid.UUID:
    """A key of the company by its id or its prefix (NotFound; Conflict if ambiguous)."""
    query = select(ApiKey.id).where(
        ApiKey.company_id == company_id,
        or_(cast(ApiKey.id, String) == key.strip().lower(), ApiKey.prefix == key.strip()),
    )
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    found = list(session.scalars(query.limit(2)))
    if not found:
        raise NotFound("no such key in this company", {"key": key})
    if len(found) > 1:
        raise Conflict("the prefix names several keys: give the key id", {"key": key})
    return found[0]


def _key_to_rotate(
    session: Session, company_id: uuid.UUID, key: str | None, user_id: uuid.UUID | None
) -> uuid.UUID:
    if key is not None:
        return _find_key(session, company_id, key, user_id)
    if user_id is None:
        raise ValidationError("name the key to rotate, or the user whose key to rotate")
    _user_of(session, company_id, user_id)
    live = list(
        session.scalars(
            select(ApiKey.id)
            .where(
                ApiKey.company_id == company_id,
                ApiKey.user_id == user_id,
                ApiKey.revoked_at.is_(None),
            )
            .limit(2)
        )
    )
    if len(live) != 1:
        what = "no live key" if not live else "several live keys: name the one to rotate"
        raise Conflict(f"the user has {what}", {"user_id": str(user_id)})
    return live[0]
