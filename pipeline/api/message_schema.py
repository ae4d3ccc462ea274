"""The document's POST /v1/messages body: one variant per message type.

pydantic describes SendMessageRequest as one object whose typed keys are all optional; the
API accepts exactly the key its `type` names, and per media type only the fields Meta takes
(a link or an id, a caption but not on audio or a sticker, a filename on a document only).
Described as variants, a client or a fuzzer reading the document sees the same rules.
"""

from typing import Any

from pydantic import BaseModel

from pipeline.api.openapi_formats import refine_model, without_null
from pipeline.domain.content import (
    MEDIA_TYPES,
    MESSAGE_TYPES,
    LocationContent,
    MediaContent,
    ReactionContent,
    TextContent,
)

# Nested models whose fields carry validators the document must state too.
_NESTED: tuple[type[BaseModel], ...] = (TextContent, MediaContent, LocationContent, ReactionContent)
# An http(s) URL with a host (of ASCII characters), as pipeline.domain.content.http_url
# accepts it.
LINK_PATTERN = r"^https?://[A-Za-z0-9._~%!$&'()*+,;=:-]+([/?#][^\s\x00]*)?$"


def describe_send_request(components: dict[str, Any]) -> None:
    """Rewrite the SendMessageRequest component (and its nested models) in place."""
    for model in _NESTED:
        if model.__name__ in components:
            refine_model(model, components[model.__name__])
    media = components[MediaContent.__name__]
    link = without_null(media["properties"]["link"])
    media["properties"]["link"] = {**link, "pattern": LINK_PATTERN}
    request = components["SendMessageRequest"]
    fields = request["properties"]
    request.pop("properties")
    request.pop("required", None)
    request.pop("additionalProperties", None)
    request.pop("type", None)
    request["oneOf"] = [_variant(kind, fields, media) for kind in MESSAGE_TYPES]


def _variant(kind: str, fields: dict[str, Any], media: dict[str, Any]) -> dict[str, Any]:
    typed = _media(kind, media) if kind in MEDIA_TYPES else without_null(fields[kind])
    properties = {"to": fields["to"], "type": {"type": "string", "const": kind}, kind: typed}
    if kind != "reaction":  # a reaction names its message in reaction.message_id
        properties["reply_to"] = fields["reply_to"]
    required = ["to", kind] if kind == "text" else ["to", "type", kind]
    return {
        "type": "object",
        "title": f"{kind} message",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _media(kind: str, media: dict[str, Any]) -> dict[str, Any]:
    allowed = ["caption"] if kind not in ("audio", "sticker") else []
    allowed += ["filename"] if kind == "document" else []
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    source: without_null(media["properties"][source]),
                    **{name: without_null(media["properties"][name]) for name in allowed},
                },
                "required": [source],
                "additionalProperties": False,
            }
            for source in ("link", "id")
        ]
    }
