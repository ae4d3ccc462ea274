"""/v1/templates: the company's message templates, as last synced."""

from typing import Annotated, Literal

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

from pipeline.api.auth import container, load_principal, principal
from pipeline.api.conversations import parse_query
from pipeline.services.template_sync import list_templates

bp = Blueprint("templates", __name__, url_prefix="/v1")
bp.before_request(load_principal)

TemplateStatus = Literal[
    "APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION"
]


class ListTemplatesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")] | None = None
    status: TemplateStatus | None = None


@bp.get("/templates")
def templates() -> Response:
    query = parse_query(ListTemplatesQuery)
    items = list_templates(container().db, principal().company_id, query.name, query.status)
    return jsonify({"items": items})
