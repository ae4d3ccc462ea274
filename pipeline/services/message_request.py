"""The body of POST /v1/messages: `to`, a `type` and Meta's own object under the type's key."""

import json
import uuid
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from pipeline.domain.content import (
    MAX_TEXT,
    MEDIA_TYPES,
    MESSAGE_TYPES,
    InteractiveContent,
    LocationContent,
    MediaContent,
    MessageType,
    ReactionContent,
    TemplateContent,
    TextContent,
    check_media,
    content_json,
)
from pipeline.domain.errors import ValidationError
from pipeline.domain.fields import PhoneNumber, visible_text

PlainText = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), AfterValidator(visible_text)]


class SendMessageRequest(BaseModel):
    """The body of POST /v1/messages: `{"to", "text"}`, or a `type` with its object."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    to: PhoneNumber
    type: MessageType = "text"
    text: PlainText | TextContent | None = None
    template: TemplateContent | None = None
    image: MediaContent | None = None
    video: MediaContent | None = None
    audio: MediaContent | None = None
    document: MediaContent | None = None
    sticker: MediaContent | None = None
    location: LocationContent | None = None
    interactive: InteractiveContent | None = None
    reaction: ReactionContent | None = None
    reply_to: uuid.UUID | None = None

    @field_validator("text", mode="wrap")
    @classmethod
    def _text_errors_under_text(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # `text` is a string or Meta's object: report only the errors of the form given,
        # under `text`, not pydantic's one per member of the union.
        try:
            return handler(value)
        except PydanticValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            as_object = isinstance(value, dict)
            chosen = [e for e in errors if (e["loc"][:1] == ("TextContent",)) == as_object]
            first = (chosen or errors)[0]
            where = ".".join(str(part) for part in first["loc"][1:])
            ctx_error = (first.get("ctx") or {}).get("error")
            reason = str(ctx_error) if isinstance(ctx_error, ValueError) else first["msg"]
            raise ValueError(f"{where}: {reason}" if where else reason) from None

    @model_validator(mode="after")
    def _one_typed_object(self) -> "SendMessageRequest":
        # Raised as our own ValidationError (pydantic lets it through) so that the details
        # name the field, not the body as a whole.
        wrong: dict[str, str] = {}
        if self.typed() is None:
            wrong[self.type] = f"a {self.type} message needs its `{self.type}` object"
        for other in MESSAGE_TYPES:
            if other != self.type and getattr(self, other) is not None:
                wrong[other] = f"not allowed in a {self.type} message"
        if self.type in MEDIA_TYPES and isinstance(media := self.typed(), MediaContent):
            wrong.update(check_media(self.type, media))
        if "\\u0000" in (self.stored_content() or ""):
            # PostgreSQL's jsonb cannot hold NUL; Meta's free-form fields (template
            # parameters) are only checked here.
            wrong[self.type] = "must not contain NUL characters"
        if self.type == "reaction" and self.reply_to is not None:
            wrong["reply_to"] = "a reaction names its message in reaction.message_id"
        if wrong:
            raise ValidationError("the request is not valid", wrong)
        return self

    def typed(self) -> BaseModel | str | None:
        """The object under the message's type."""
        typed: BaseModel | str | None = getattr(self, self.type)
        return typed

    def body_text(self) -> str | None:
        """messages.text: the body of a text message, else the caption, if any."""
        typed = self.typed()
        if isinstance(typed, str):
            return typed
        if isinstance(typed, TextContent):
            return typed.body
        if isinstance(typed, MediaContent):
            return typed.caption
        return None

    def stored_content(self) -> str | None:
        """messages.content as JSON; None for plain text (its body is all there is), so a
        text message's intake does not build or store a JSON document."""
        typed = self.typed()
        if isinstance(typed, str) or typed is None:
            return None
        if isinstance(typed, TextContent) and not typed.preview_url:
            return None
        return json.dumps(content_json(typed))

    def preview(self) -> str:
        """The conversation list's preview of this message."""
        typed = self.typed()
        if self.type == "text":
            return self.body_text() or ""
        if isinstance(typed, TemplateContent):
            return f"[template] {typed.name}"
        if isinstance(typed, ReactionContent):
            return f"[reaction] {typed.emoji}"
        caption = self.body_text()
        return f"[{self.type}] {caption}" if caption else f"[{self.type}]"

    def replied_message_id(self) -> uuid.UUID | None:
        """messages.reply_to_message_id: the replied message, or the one reacted to."""
        if self.reaction is not None:
            return self.reaction.message_id
        return self.reply_to
