"""Reading a company's templates from the provider into `templates`, and keeping them current."""

import uuid
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, TextClause, text
from sqlalchemy.orm import Session

from db.session import Database
from pipeline.crypto import TokenCipher
from pipeline.domain.errors import NotFound, Unavailable, ValidationError
from pipeline.provider.errors import ProviderError
from pipeline.services.templates import template_row


class TemplateSource(Protocol):
    def list_templates(self, waba_id: str, access_token: str) -> Any:
        """Every template of the business account (an iterable of Meta's objects)."""
        ...


_CHANNEL_SQL = text("SELECT waba_id, access_token FROM channels WHERE company_id = :company_id")

# Writes a row only when something differs, so an hourly sync of an unchanged catalogue
# writes nothing (no dead tuples, no WAL); `changed` counts the rows it did write.
_UPSERT_SQL = text("""
INSERT INTO templates (id, company_id, provider_id, name, language, status, category,
                       components, synced_at)
VALUES (gen_random_uuid(), :company_id, :provider_id, :name, :language, :status, :category,
        CAST(:components AS jsonb), now())
ON CONFLICT (company_id, name, language) DO UPDATE SET
    provider_id = EXCLUDED.provider_id, status = EXCLUDED.status,
    category = EXCLUDED.category, components = EXCLUDED.components, synced_at = now()
WHERE (templates.provider_id, templates.status, templates.category, templates.components)
      IS DISTINCT FROM (EXCLUDED.provider_id, EXCLUDED.status, EXCLUDED.category,
                        EXCLUDED.components)
""")

# Templates deleted at Meta since the last sync.
_REMOVE_SQL = text("""
DELETE FROM templates
WHERE company_id = :company_id
  AND NOT (name || '/' || language = ANY(CAST(:keep AS text[])))
""")

_COMPANIES_SQL = text("SELECT company_id FROM channels WHERE waba_id IS NOT NULL")

# A status webhook (APPROVED, REJECTED, PAUSED, DISABLED, ...) for a template we know.
_STATUS_SQL = text("""
UPDATE templates t SET status = :status, synced_at = now()
FROM channels c
WHERE c.waba_id = :waba_id AND t.company_id = c.company_id AND t.name = :name
  AND (CAST(:language AS text) IS NULL OR t.language = :language)
  AND t.status IS DISTINCT FROM :status
""")


@dataclass(frozen=True, slots=True)
class SyncReport:
    company_id: uuid.UUID
    templates: int
    changed: int
    removed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "company_id": str(self.company_id),
            "templates": self.templates,
            "changed": self.changed,
            "removed": self.removed,
        }


def sync_templates(
    db: Database, source: TemplateSource, cipher: TokenCipher, company_id: uuid.UUID
) -> SyncReport:
    """Read the company's templates from the provider (every page) and store them."""
    with db.transaction() as session:
        channel = session.execute(_CHANNEL_SQL, {"company_id": company_id}).one_or_none()
    if channel is None:
        raise NotFound("company not found", {"company": str(company_id)})
    if not channel.waba_id:
        raise ValidationError(
            "the company's channel has no WhatsApp business account id (waba_id)",
            {"waba_id": "create the company with --waba-id"},
        )
    token = cipher.decrypt(channel.access_token)
    # Read every page before writing: a failure halfway must not delete what is unseen.
    try:
        listed = [
            template_row(company_id, t)
            for t in source.list_templates(channel.waba_id, token)
            if isinstance(t.get("name"), str) and isinstance(t.get("language"), str)
        ]
    except ProviderError as error:
        # Meta's title goes to the details: a CLI line stays short.
        raise Unavailable(
            f"the provider refused to list templates (code {error.code})",
            {"code": error.code, "title": error.title},
        ) from None
    with db.transaction() as session:
        changed = sum(_rowcount(session, _UPSERT_SQL, row) for row in listed)
        keep = [f"{row['name']}/{row['language']}" for row in listed]
        removed = _rowcount(session, _REMOVE_SQL, {"company_id": company_id, "keep": keep})
    return SyncReport(company_id, len(listed), changed, removed)


def _rowcount(session: Session, statement: TextClause, params: dict[str, Any]) -> int:
    result = cast(CursorResult[Any], session.execute(statement, params))
    return result.rowcount


def sync_all_templates(db: Database, source: TemplateSource, cipher: TokenCipher) -> list[str]:
    """Sync every company that has a business account id; the errors, one line each (one
    company's expired token must not stop the others')."""
    with db.transaction() as session:
        companies = list(session.scalars(_COMPANIES_SQL))
    errors = []
    for company_id in companies:
        try:
            sync_templates(db, source, cipher, company_id)
        # Reported per company: one company's failure must not stop the others' syncs.
        except Exception as error:
            errors.append(f"{company_id}: {type(error).__name__}: {error}"[:300])
    return errors


def apply_template_status(session: Session, waba_id: str, update: dict[str, Any]) -> None:
    """A `message_template_status_update` webhook: the template's new status, if we know it
    (an unknown template arrives with the next sync, components and all)."""
    name, event = update.get("message_template_name"), update.get("event")
    if not isinstance(name, str) or not isinstance(event, str):
        return
    language = update.get("message_template_language")
    session.execute(
        _STATUS_SQL,
        {
            "waba_id": waba_id,
            "name": name[:512],
            "language": language[:16] if isinstance(language, str) else None,
            "status": event[:32],
        },
    )


def list_templates(
    db: Database, company_id: uuid.UUID, name: str | None, status: str | None
) -> list[dict[str, Any]]:
    """The company's stored templates, by name and language."""
    sql = """
    SELECT name, language, status, category, components, synced_at FROM templates
    WHERE company_id = :company_id
      AND (CAST(:name AS text) IS NULL OR name = :name)
      AND (CAST(:status AS text) IS NULL OR status = :status)
    ORDER BY name, language
    """
    params = {"company_id": company_id, "name": name, "status": status}
    with db.transaction() as session:
        rows = session.execute(text(sql), params).all()
    return [
        {
            "name": r.name,
            "language": r.language,
            "status": r.status,
            "category": r.category,
            "components": r.components,
            "synced_at": r.synced_at.isoformat(),
        }
        for r in rows
    ]
