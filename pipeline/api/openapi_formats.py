"""What the API enforces beyond the JSON schema pydantic derives from its models.

A model's validators (a phone read as E.164, text that is not only whitespace, no NUL) are
Python functions: pydantic cannot put them in a JSON schema, so a client or a fuzzer reading
the document would believe `"to": "0"` is a valid phone. Each validator is described here once,
as the format and pattern it enforces, and the document builder adds them to every field the
validator guards. A pattern is a condition every accepted value meets (so a value that breaks
it is refused). A named format (`phone`, the cursors) says what no pattern can, which numbers
exist and which cursors a list gave out, and is then the whole rule of its field: lengths and
patterns beside it would describe strings that are not phones or cursors, which a fuzzer then
sends as valid ones. `tests/fuzz/formats.py` generates values of each named format.
"""

import typing
from collections.abc import Iterator
from typing import Any

from pydantic import AfterValidator, BaseModel

from pipeline.domain.fields import storable_text, visible_text
from pipeline.domain.phones import normalize_phone

# Python's str.isspace() characters, spelled out: JSON Schema's `\s` (ECMA 262) and Rust's
# differ from Python's and from each other (\x1c-\x1f, \x85, \ufeff), and the API strips with
# Python's. Escapes, not characters, so every regex dialect reads the same class.
_PY_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"
VISIBLE = rf"^[^\x00]*[^\x00{_PY_SPACE}][^\x00]*$"
PHONE = {
    "format": "phone",
    "description": "A phone number that exists (libphonenumber's rules), with its country code: "
    "`+` or the international `00` first, then any spacing and punctuation "
    "(`+1 650-555-0142`, `0044 20 7946 0958`); at most 64 characters; stored as E.164.",
}


def cursor(list_name: str) -> dict[str, str]:
    """The cursor of one list: only a `next_cursor` that list gave out is accepted."""
    return {
        "format": f"{list_name}-cursor",
        "description": f"The `next_cursor` of the previous page of {list_name}: opaque "
        "base64url, at most 200 characters; any other value is a 400.",
    }


_BY_VALIDATOR: dict[object, dict[str, str]] = {
    normalize_phone: PHONE,
    visible_text: {"pattern": VISIBLE},
    storable_text: {"pattern": NO_NUL},
}


def enforced(model: type[BaseModel], name: str) -> dict[str, str]:
    """The format and pattern the validators of ``model.name`` enforce (the strictest one)."""
    field = model.model_fields[name]
    found = [
        _BY_VALIDATOR[m.func]
        for m in (*field.metadata, *_metadata(field.annotation))
        if isinstance(m, AfterValidator) and m.func in _BY_VALIDATOR
    ]
    # visible_text implies storable_text; a phone implies both.
    for strictest in (PHONE, _BY_VALIDATOR[visible_text], _BY_VALIDATOR[storable_text]):
        if strictest in found:
            return strictest
    return {}


def refine(schema: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    """``schema`` (a string, or a union with one) with ``extra`` added to its string part."""
    if not extra:
        return schema
    if schema.get("type") == "string" and "format" in extra:
        return {"type": "string", **extra}  # the format is the whole rule (see above)
    if schema.get("type") == "string":
        return {**schema, **extra}
    if "anyOf" in schema:
        return {**schema, "anyOf": [refine(option, extra) for option in schema["anyOf"]]}
    return schema


def refine_model(model: type[BaseModel], schema: dict[str, Any]) -> None:
    """Add what ``model``'s validators enforce to its component schema, in place."""
    properties = schema.get("properties", {})
    for name in model.model_fields:
        if name in properties:
            properties[name] = refine(properties[name], enforced(model, name))


def _metadata(annotation: object) -> Iterator[object]:
    """Every Annotated metadata item inside ``annotation`` (through unions and Optional)."""
    if typing.get_origin(annotation) is typing.Annotated:
        yield from annotation.__metadata__  # type: ignore[attr-defined]
    for argument in typing.get_args(annotation):
        yield from _metadata(argument)


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its null option: an absent key (or query parameter) is the None,
    so a present one must carry a value."""
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {key: value for key, value in schema.items() if key not in ("anyOf", "default")}
    return {**rest, **(kept[0] if len(kept) == 1 else {"anyOf": kept})}
