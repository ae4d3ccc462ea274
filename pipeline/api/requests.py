"""Turning a Flask request into a validated pydantic model, or a 4xx."""

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from werkzeug.exceptions import UnsupportedMediaType

from pipeline.api.errors import field_errors
from pipeline.domain.errors import ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M]) -> M:
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    data = _json_body()
    if data is None:
        raise ValidationError("the body is not valid JSON")
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError("the request is not valid", field_errors(exc)) from exc


def _json_body() -> Any:
    """The parsed body, or None when it is not JSON (bad syntax, not UTF-8)."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        # The json module parses nesting by recursion: `[[[[...` a few thousand deep is valid
        # JSON that it cannot read. No request of ours nests more than two levels.
        raise ValidationError(
            "the body is nested too deeply", {"body": "nested too deeply"}
        ) from None
