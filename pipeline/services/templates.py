"""Message templates: the company's catalogue as last synced, and the check of a template
message against it (what Meta would refuse with 132000 or 132001 is refused at intake)."""

import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipeline.domain.content import TemplateComponent, TemplateContent
from pipeline.domain.errors import ValidationError

# One indexed read (the unique key of templates), only for a template message.
_TEMPLATE_SQL = """
SELECT status, components FROM templates
WHERE company_id = %(company_id)s AND name = %(name)s AND language = %(language)s
"""

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}

Runner = Callable[[str, Mapping[str, Any]], Sequence[Any]]


def check_template(run: Runner, company_id: uuid.UUID, content: TemplateContent) -> None:
    """ValidationError naming `template` unless the message fits a stored, APPROVED
    template in its language, with exactly the parameters its components declare."""
    rows = run(
        _TEMPLATE_SQL,
        {"company_id": company_id, "name": content.name, "language": content.language.code},
    )
    if not rows:
        _refuse(
            f"no template {content.name!r} in language {content.language.code!r} "
            "(run `wapipe templates sync` after creating it)"
        )
    status, components = rows[0].status, rows[0].components
    if status != "APPROVED":
        _refuse(f"template {content.name!r} is {status}, not APPROVED")
    problems = parameter_problems(components, content.components)
    if problems:
        _refuse("; ".join(problems))


def _refuse(reason: str) -> None:
    raise ValidationError("the template does not fit", {"template": reason})


def parameter_problems(declared: list[dict[str, Any]], given: list[TemplateComponent]) -> list[str]:
    """What is wrong with ``given`` against the template's ``declared`` components."""
    by_type = {str(c.get("type", "")).upper(): c for c in declared if isinstance(c, dict)}
    problems = []
    problems += _check_body(by_type.get("BODY"), [c for c in given if c.type == "body"])
    problems += _check_header(by_type.get("HEADER"), [c for c in given if c.type == "header"])
    problems += _check_buttons(by_type.get("BUTTONS"), [c for c in given if c.type == "button"])
    if any(c.type == "footer" and c.parameters for c in given):
        problems.append("a footer takes no parameters")
    return problems


def variables(text: object) -> int:
    """How many distinct {{n}} a component's text declares."""
    return len(set(_VARIABLE.findall(text))) if isinstance(text, str) else 0


def _check_body(declared: dict[str, Any] | None, given: list[TemplateComponent]) -> list[str]:
    wanted = variables(declared.get("text")) if declared else 0
    if len(given) > 1:
        return ["give at most one body component"]
    count = len(given[0].parameters) if given else 0
    if count != wanted:
        return [f"the body takes {wanted} parameters ({{{{1}}}}..{{{{{wanted}}}}}), {count} given"]
    return []


def _check_header(declared: dict[str, Any] | None, given: list[TemplateComponent]) -> list[str]:
    if len(given) > 1:
        return ["give at most one header component"]
    params = given[0].parameters if given else []
    if declared is None:
        return ["the template has no header"] if given else []
    fmt = str(declared.get("format", "TEXT")).upper()
    if fmt == "TEXT":
        wanted = variables(declared.get("text"))
        if len(params) != wanted:
            return [f"the text header takes {wanted} parameters, {len(params)} given"]
        return []
    kind = _MEDIA_FORMATS.get(fmt, fmt.lower())
    if len(params) != 1 or params[0].type != kind:
        return [f"the header is {fmt}: give one {kind} parameter"]
    return []


def _check_buttons(declared: dict[str, Any] | None, given: list[TemplateComponent]) -> list[str]:
    buttons = declared.get("buttons", []) if declared else []
    problems = []
    for component in given:
        index = int(str(component.index)) if str(component.index).isdigit() else -1
        if not 0 <= index < len(buttons):
            problems.append(f"the template has no button {component.index}")
    for index, button in enumerate(buttons):
        needs_parameter = isinstance(button, dict) and variables(button.get("url"))
        if needs_parameter and not any(str(c.index) == str(index) and c.parameters for c in given):
            problems.append(f"button {index} (a URL with a variable) needs its parameter")
    return problems


def template_row(company_id: uuid.UUID, template: Mapping[str, Any]) -> dict[str, Any]:
    """A template as Meta lists it, as the parameters of the upsert in template_sync."""
    return {
        "company_id": company_id,
        "provider_id": str(template.get("id") or "")[:64] or None,
        "name": str(template["name"])[:512],
        "language": str(template["language"])[:16],
        "status": str(template.get("status") or "PENDING")[:32],
        "category": str(template.get("category") or "")[:32] or None,
        "components": json.dumps(template.get("components") or []),
    }
