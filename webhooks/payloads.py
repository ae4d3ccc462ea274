"""Pydantic models of the Cloud API webhook body; permissive where Meta adds fields."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


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


MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


class InboundMessage(_Model):
    """A customer's message of any type; the object under its type is kept as Meta sent it
    (extra fields allowed), so a type Meta adds tomorrow is stored, never refused."""

    from_: str = Field(alias="from", min_length=1, max_length=32)
    id: str = Field(min_length=1, max_length=256)
    timestamp: str = Field(pattern=r"^\d{1,11}$")
    type: str = Field(max_length=64)
    text: InboundText | None = None
    context: dict[str, Any] | None = None

    @property
    def at(self) -> datetime:
        return parse_timestamp(self.timestamp)

    def typed_content(self) -> dict[str, Any]:
        """The object under the message's type (contacts, a list, wrapped as {"contacts"})."""
        typed = (
            self.text.model_dump() if self.type == "text" and self.text else self._extra(self.type)
        )
        if isinstance(typed, dict):
            return typed
        return {self.type: typed} if typed is not None else {}

    def body_text(self) -> str | None:
        """What a person reads first: the text, a caption, a reply's title, a place's name."""
        typed = self.typed_content()
        if self.type == "text":
            return self.text.body if self.text else None
        if self.type == "interactive":
            reply = typed.get(str(typed.get("type")))
            typed = reply if isinstance(reply, dict) else {}
        for key in ("caption", "title", "text", "name", "emoji"):
            if isinstance(typed.get(key), str):
                return str(typed[key])
        return None

    def media(self) -> tuple[str, str | None] | None:
        """(media id, mime type) of a media message."""
        typed = self.typed_content()
        media_id = typed.get("id")
        if self.type not in MEDIA_TYPES or not isinstance(media_id, str) or not media_id:
            return None
        mime = typed.get("mime_type")
        return media_id[:128], mime[:128] if isinstance(mime, str) else None

    def replied_wamid(self) -> str | None:
        """The wamid of our message this one replies or reacts to."""
        if self.type == "reaction":
            wamid = self.typed_content().get("message_id")
        else:
            wamid = (self.context or {}).get("id")
        return wamid[:256] if isinstance(wamid, str) else None

    def _extra(self, key: str) -> Any:
        return (self.model_extra or {}).get(key)


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


class MessagesChange(_Model):
    field: Literal["messages"]
    value: ChangeValue


class OtherChange(_Model):
    """A change of another field (a template status update, ...), kept as Meta sent it."""

    field: str
    value: dict[str, Any]


def _change_kind(change: Any) -> str:
    field = change.get("field") if isinstance(change, dict) else getattr(change, "field", None)
    return "messages" if field == "messages" else "other"


Change = Annotated[
    Annotated[MessagesChange, Tag("messages")] | Annotated[OtherChange, Tag("other")],
    Discriminator(_change_kind),
]


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
            if isinstance(change, MessagesChange) and change.value.metadata is not None
        ]

    def template_updates(self) -> list[tuple[str, dict[str, Any]]]:
        """(WABA id, update) of every `message_template_status_update` change."""
        return [
            (entry.id, change.value)
            for entry in self.entry
            for change in entry.changes
            if entry.id
            and isinstance(change, OtherChange)
            and change.field == "message_template_status_update"
        ]


def parse_timestamp(raw: str) -> datetime:
    """Meta sends unix seconds as a string (validated as digits above)."""
    return datetime.fromtimestamp(int(raw), UTC)
