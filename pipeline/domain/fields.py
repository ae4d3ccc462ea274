"""Request field types shared by every pydantic input: one rule, one place."""

from typing import Annotated

from pydantic import AfterValidator, Field

from pipeline.domain.phones import normalize_phone


def storable_text(value: str) -> str:
    """Refuse what PostgreSQL text cannot hold (NUL), before it becomes a 500."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def visible_text(value: str) -> str:
    """Refuse text that is only whitespace (the provider refuses an empty body)."""
    if not value.strip():
        raise ValueError("must contain something other than whitespace")
    return storable_text(value)


# Any common phone format with its country code, validated and normalised to E.164.
PhoneNumber = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(normalize_phone)]
