"""Pydantic models of the Cloud API webhook body; permissive where Meta adds fields."""

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ErrorData(_Model):
    details: str | None = None


class StatusError(_Model):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: ErrorData | None = None


class StatusItem(_Model):
    id: str = Field(min_length=1, max_length=256)
    status: str
    timestamp: str = Field(pattern=r"^\d{1,11}$")
    recipient_id: str | None = None
    biz_opaque_callback_data: str | None = None
    errors: list[StatusError] = []

    @property
    def at(self) -> datetime:
        return parse_timestamp(self.timestamp)


class InboundText(_Model):
    body: str = ""


class InboundMessage(_Model):
    from_: str = Field(alias="from", min_length=1, max_length=32)
    id: str = Field(min_length=1, max_length=256)
    timestamp: str = Field(pattern=r"^\d{1,11}$")
    type: str
    text: InboundText | None = None
    context: dict[str, Any] | None = None

    @property
    def at(self) -> datetime:
        return parse_timestamp(self.timestamp)


class Profile(_Model):
    name: str | None = None


class InboundContact(_Model):
    wa_id: str
    profile: Profile | None = None


class Metadata(_Model):
    phone_number_id: str
    display_phone_number: str | None = None


class ChangeValue(_Model):
    metadata: Metadata | None = None
    statuses: list[StatusItem] = []
    messages: list[InboundMessage] = []
    contacts: list[InboundContact] = []


class Change(_Model):
    field: str
    value: ChangeValue


class Entry(_Model):
    id: str | None = None
    changes: list[Change] = []


class WebhookPayload(_Model):
    object: str
    entry: list[Entry]

    def message_changes(self) -> list[ChangeValue]:
        """Every `messages` change that names its channel; other fields are not ours to apply."""
        return [
            change.value
            for entry in self.entry
            for change in entry.changes
            if change.field == "messages" and change.value.metadata is not None
        ]


def parse_timestamp(raw: str) -> datetime:
    """Meta sends unix seconds as a string (validated as digits above)."""
    return datetime.fromtimestamp(int(raw), UTC)
