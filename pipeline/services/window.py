"""The 24-hour customer service window: each company's policy for messages outside it."""

import uuid

from sqlalchemy import update

from db.models import Company
from db.session import Database
from pipeline.domain.errors import NotFound, ValidationError

# `off`: every message goes to Meta as it is (Meta refuses a free-form one outside the
# window with 131047); `enforce`: such a message is refused at intake with WINDOW_CLOSED.
WINDOW_POLICIES = ("off", "enforce")
WINDOW_HOURS = 24


def set_window_policy(db: Database, company_id: uuid.UUID, policy: str) -> None:
    """Set the company's window policy; NotFound for an unknown company."""
    if policy not in WINDOW_POLICIES:
        raise ValidationError("unknown window policy", {"window_policy": policy})
    with db.transaction() as session:
        found = session.execute(
            update(Company)
            .where(Company.id == company_id)
            .values(window_policy=policy)
            .returning(Company.id)
        ).first()
    if found is None:
        raise NotFound("company not found", {"company": str(company_id)})
