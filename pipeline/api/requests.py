"""Turning a Flask request into a validated pydantic model, or a 4xx."""

from typing import TypeVar

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
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError("the body is not valid JSON")
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError("the request is not valid", field_errors(exc)) from exc
