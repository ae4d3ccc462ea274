"""What Meta accepts as media: the types, their size limits, and how each file starts.

A file whose bytes do not start the way its declared type's files do is refused as
mislabelled: Meta would accept the upload and fail the send later, or show a broken file.
"""

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.domain.errors import PayloadTooLarge, ValidationError

MB = 1024 * 1024


def _starts(*prefixes: bytes, at: int = 0) -> Callable[[bytes], bool]:
    return lambda data: any(data[at : at + len(p)] == p for p in prefixes)


def _webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _plain_text(data: bytes) -> bool:
    return b"\x00" not in data[:8192]


_OLE = _starts(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # .doc, .xls, .ppt
_ZIP = _starts(b"PK\x03\x04")  # .docx, .xlsx, .pptx


@dataclass(frozen=True, slots=True)
class MediaKind:
    kind: str  # the message type it is sent as
    max_bytes: int
    looks_right: Callable[[bytes], bool]


# Meta's supported media types and sizes (Cloud API, "Supported media types").
MEDIA_KINDS: dict[str, MediaKind] = {
    "image/jpeg": MediaKind("image", 5 * MB, _starts(b"\xff\xd8\xff")),
    "image/png": MediaKind("image", 5 * MB, _starts(b"\x89PNG\r\n\x1a\n")),
    "image/webp": MediaKind("sticker", 500 * 1024, _webp),
    "video/mp4": MediaKind("video", 16 * MB, _starts(b"ftyp", at=4)),
    "video/3gpp": MediaKind("video", 16 * MB, _starts(b"ftyp", at=4)),
    "audio/aac": MediaKind("audio", 16 * MB, _starts(b"\xff\xf1", b"\xff\xf9", b"ADIF")),
    "audio/amr": MediaKind("audio", 16 * MB, _starts(b"#!AMR")),
    "audio/mpeg": MediaKind(
        "audio", 16 * MB, _starts(b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    ),
    "audio/mp4": MediaKind("audio", 16 * MB, _starts(b"ftyp", at=4)),
    "audio/ogg": MediaKind("audio", 16 * MB, _starts(b"OggS")),
    "text/plain": MediaKind("document", 100 * MB, _plain_text),
    "application/pdf": MediaKind("document", 100 * MB, _starts(b"%PDF-")),
    "application/msword": MediaKind("document", 100 * MB, _OLE),
    "application/vnd.ms-excel": MediaKind("document", 100 * MB, _OLE),
    "application/vnd.ms-powerpoint": MediaKind("document", 100 * MB, _OLE),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": MediaKind(
        "document", 100 * MB, _ZIP
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": MediaKind(
        "document", 100 * MB, _ZIP
    ),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": MediaKind(
        "document", 100 * MB, _ZIP
    ),
}
MAX_MEDIA_BYTES = max(kind.max_bytes for kind in MEDIA_KINDS.values())


def check_upload(mime_type: str, data: bytes) -> MediaKind:
    """The kind of an upload Meta would take; ValidationError or PayloadTooLarge if not."""
    kind = MEDIA_KINDS.get(mime_type.split(";")[0].strip().lower())
    if kind is None:
        raise ValidationError(
            "this media type is not supported", {"file": f"unsupported type {mime_type[:100]!r}"}
        )
    if not data:
        raise ValidationError("the file is empty", {"file": "empty"})
    if len(data) > kind.max_bytes:
        raise PayloadTooLarge(
            f"a {kind.kind} is at most {kind.max_bytes} bytes",
            {"file": f"{len(data)} bytes", "max_bytes": kind.max_bytes},
        )
    if not kind.looks_right(data):
        raise ValidationError(
            "the file's content does not match its type",
            {"file": f"does not look like {mime_type[:100]}"},
        )
    return kind
