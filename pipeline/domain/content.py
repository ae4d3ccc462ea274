"""The typed part of a message, as Meta's Cloud API defines each object.

Each model forbids fields Meta does not know and checks what Meta would refuse for its shape
(two of link and id, a caption on audio, a fourth reply button, ...), so that a message is
refused at intake with the field named instead of failing at the provider later.
"""

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from pipeline.domain.fields import storable_text, visible_text

MAX_TEXT = 4096
MAX_CAPTION = 1024

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
MessageType = Literal[
    "text",
    "template",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "interactive",
    "reaction",
]
MESSAGE_TYPES: tuple[str, ...] = MessageType.__args__  # type: ignore[attr-defined]


def http_url(value: str) -> str:
    """Meta fetches a media link itself: only an absolute http(s) URL can work."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value


Text = Annotated[str, AfterValidator(storable_text)]
Label = Annotated[str, Field(min_length=1), AfterValidator(visible_text)]
Link = Annotated[str, Field(max_length=2048), AfterValidator(http_url)]


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextContent(_Meta):
    body: Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(visible_text)]
    preview_url: bool = False


class MediaContent(_Meta):
    """image, video, audio, document or sticker: a link or a media id, never both."""

    link: Link | None = None
    id: (
        Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")] | None
    ) = None
    caption: Annotated[Text, Field(max_length=MAX_CAPTION)] | None = None
    filename: Annotated[Text, Field(min_length=1, max_length=240)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "MediaContent":
        if (self.link is None) == (self.id is None):
            raise ValueError("give exactly one of link and id")
        return self


def check_media(kind: str, media: MediaContent) -> dict[str, str]:
    """The per-type rules Meta applies to a media object: {field: what is wrong}."""
    wrong: dict[str, str] = {}
    if media.caption is not None and kind in ("audio", "sticker"):
        wrong[f"{kind}.caption"] = f"a {kind} has no caption"
    if media.filename is not None and kind != "document":
        wrong[f"{kind}.filename"] = "only a document has a filename"
    return wrong


class LocationContent(_Meta):
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    name: Annotated[Text, Field(max_length=1000)] | None = None
    address: Annotated[Text, Field(max_length=1000)] | None = None


class ReactionContent(_Meta):
    """A reaction to one of the company's messages (our id; the provider's wamid is sent)."""

    message_id: uuid.UUID
    # An empty emoji removes an earlier reaction, as on Meta.
    emoji: Annotated[Text, Field(max_length=16)]


# --- interactive: reply buttons and lists, as Meta defines them
class InteractiveText(_Meta):
    text: Annotated[Label, Field(max_length=MAX_CAPTION)]


class InteractiveFooter(_Meta):
    text: Annotated[Label, Field(max_length=60)]


class InteractiveHeader(_Meta):
    type: Literal["text", "image", "video", "document"]
    text: Annotated[Label, Field(max_length=60)] | None = None
    image: MediaContent | None = None
    video: MediaContent | None = None
    document: MediaContent | None = None

    @model_validator(mode="after")
    def _matches_type(self) -> "InteractiveHeader":
        given = [k for k in ("text", "image", "video", "document") if getattr(self, k) is not None]
        if given != [self.type]:
            raise ValueError(f"a {self.type} header carries exactly its `{self.type}`")
        return self


class Reply(_Meta):
    id: Annotated[Label, Field(max_length=256)]
    title: Annotated[Label, Field(max_length=20)]


class ReplyButton(_Meta):
    type: Literal["reply"]
    reply: Reply


class ListRow(_Meta):
    id: Annotated[Label, Field(max_length=200)]
    title: Annotated[Label, Field(max_length=24)]
    description: Annotated[Text, Field(max_length=72)] | None = None


class ListSection(_Meta):
    title: Annotated[Label, Field(max_length=24)] | None = None
    rows: Annotated[list[ListRow], Field(min_length=1, max_length=10)]


class InteractiveAction(_Meta):
    buttons: Annotated[list[ReplyButton], Field(min_length=1, max_length=3)] | None = None
    button: Annotated[Label, Field(max_length=20)] | None = None
    sections: Annotated[list[ListSection], Field(min_length=1, max_length=10)] | None = None


class InteractiveContent(_Meta):
    type: Literal["button", "list"]
    header: InteractiveHeader | None = None
    body: InteractiveText
    footer: InteractiveFooter | None = None
    action: InteractiveAction

    @model_validator(mode="after")
    def _action_fits(self) -> "InteractiveContent":
        action = self.action
        if self.type == "button":
            if action.buttons is None or action.button or action.sections:
                raise ValueError("reply buttons take action.buttons (1 to 3) and nothing else")
            _unique([b.reply.id for b in action.buttons], "button ids")
            _unique([b.reply.title for b in action.buttons], "button titles")
        else:
            if action.buttons is not None or not action.button or not action.sections:
                raise ValueError("a list takes action.button and action.sections")
            rows = [row for section in action.sections for row in section.rows]
            if len(rows) > 10:
                raise ValueError("a list has at most 10 rows in all")
            if len(action.sections) > 1 and any(s.title is None for s in action.sections):
                raise ValueError("each section of a list with several needs a title")
            _unique([row.id for row in rows], "row ids")
            if self.header is not None and self.header.type != "text":
                raise ValueError("a list's header can only be text")
        return self


def _unique(values: list[str], what: str) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must be unique")


# --- template (checked against the stored template by pipeline/services/templates.py)
class TemplateLanguage(_Meta):
    code: Annotated[
        str, Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2,3}(_[A-Za-z]+)?$")
    ]
    policy: Literal["deterministic"] | None = None


class TemplateParameter(BaseModel):
    # Parameters come in many shapes (text, currency, date_time, image, document, ...);
    # Meta checks them, we count them and check their type against the template.
    model_config = ConfigDict(extra="allow")

    type: Literal[
        "text", "currency", "date_time", "image", "video", "document", "location", "payload"
    ]


class TemplateComponent(_Meta):
    type: Literal["header", "body", "button", "footer"]
    sub_type: Literal["quick_reply", "url", "copy_code", "flow"] | None = None
    index: Annotated[int, Field(ge=0, le=9)] | str | None = None
    parameters: Annotated[list[TemplateParameter], Field(max_length=100)] = []


class TemplateContent(_Meta):
    name: Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")]
    language: TemplateLanguage
    components: Annotated[list[TemplateComponent], Field(max_length=20)] = []


def content_json(model: BaseModel) -> dict[str, Any]:
    """The object as stored in messages.content and sent to Meta (unset fields left out)."""
    return model.model_dump(mode="json", exclude_none=True)
