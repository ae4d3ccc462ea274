"""Media: uploads to the provider (to send by id) and downloads of media the company sent
or received. These calls are not sends: they go past the channel's pacing gate."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import urllib3
from sqlalchemy import text

from db.session import Database
from pipeline.crypto import TokenCipher
from pipeline.domain.errors import NotFound, Unavailable
from pipeline.domain.media import check_upload
from pipeline.provider.client import MediaInfo, MediaUpload
from pipeline.provider.errors import ProviderError
from pipeline.services.tenants import Principal

CHUNK = 64 * 1024


class MediaStore(Protocol):
    def upload_media(self, phone_number_id: str, access_token: str, upload: MediaUpload) -> str:
        """Upload a file; the provider's media id."""
        ...

    def media_url(self, media_id: str, access_token: str) -> MediaInfo:
        """Where a media's bytes can be downloaded."""
        ...

    def download(self, url: str, access_token: str) -> urllib3.BaseHTTPResponse:
        """The bytes, streamed."""
        ...


@dataclass(frozen=True, slots=True)
class Uploaded:
    id: str
    mime_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Download:
    mime_type: str
    size: int | None
    chunks: Iterator[bytes]


_CHANNEL_SQL = text(
    "SELECT phone_number_id, access_token FROM channels WHERE company_id = :company_id"
)
_RECORD_SQL = text("""
INSERT INTO media (id, company_id, direction, mime_type, size)
VALUES (:id, :company_id, 'outbound', :mime_type, :size)
ON CONFLICT DO NOTHING
""")
_OWNED_SQL = text("SELECT 1 FROM media WHERE id = :id AND company_id = :company_id")


def upload_media(
    db: Database, store: MediaStore, cipher: TokenCipher, principal: Principal, upload: MediaUpload
) -> Uploaded:
    """Check the file against Meta's limits, then upload it with the channel's token."""
    check_upload(upload.mime_type, upload.data)
    phone_number_id, token = _channel(db, cipher, principal.company_id)
    try:
        media_id = store.upload_media(phone_number_id, token, upload)
    except ProviderError as error:
        raise Unavailable(
            "the provider did not take the upload", {"provider": error.title}
        ) from None
    with db.transaction() as session:
        session.execute(
            _RECORD_SQL,
            {
                "id": media_id,
                "company_id": principal.company_id,
                "mime_type": upload.mime_type,
                "size": len(upload.data),
            },
        )
    return Uploaded(media_id, upload.mime_type, len(upload.data))


def download_media(
    db: Database, store: MediaStore, cipher: TokenCipher, principal: Principal, media_id: str
) -> Download:
    """Stream a media the company uploaded or received (NotFound for any other)."""
    with db.transaction() as session:
        owned = session.execute(
            _OWNED_SQL, {"id": media_id, "company_id": principal.company_id}
        ).first()
    if owned is None:
        raise NotFound("media not found", {"media_id": media_id[:128]})
    _, token = _channel(db, cipher, principal.company_id)
    try:
        info = store.media_url(media_id, token)
        response = store.download(info.url, token)
    except ProviderError as error:
        if error.http_status == 404 or error.code == 100:
            raise NotFound(
                "the provider no longer has this media", {"media_id": media_id}
            ) from None
        raise Unavailable("the provider did not answer", {"provider": error.title}) from None
    return Download(info.mime_type, info.size, _stream(response))


def _stream(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    try:
        yield from response.stream(CHUNK)
    finally:
        response.release_conn()


def _channel(db: Database, cipher: TokenCipher, company_id: uuid.UUID) -> tuple[str, str]:
    with db.transaction() as session:
        row = session.execute(_CHANNEL_SQL, {"company_id": company_id}).one()
    return row.phone_number_id, cipher.decrypt(row.access_token)
