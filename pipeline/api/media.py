"""/v1/media: upload a file to send by id; download a media the company sent or received."""

import re
from dataclasses import asdict

from flask import Blueprint, Response, jsonify, request

from pipeline.api.auth import container, load_principal, principal
from pipeline.crypto import TokenCipher
from pipeline.domain.errors import ValidationError
from pipeline.provider.client import MediaUpload
from pipeline.services.media import download_media, upload_media

bp = Blueprint("media", __name__, url_prefix="/v1")
bp.before_request(load_principal)

_MEDIA_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@bp.post("/media")
def upload() -> tuple[Response, int]:
    c = container()
    cipher = TokenCipher.from_settings(c.settings)
    uploaded = upload_media(c.db, c.provider, cipher, principal(), _uploaded_file())
    return jsonify(asdict(uploaded)), 201


@bp.get("/media/<media_id>")
def download(media_id: str) -> Response:
    if not _MEDIA_ID.fullmatch(media_id):
        raise ValidationError("not a media id", {"media_id": "letters, digits and ._:- only"})
    c = container()
    cipher = TokenCipher.from_settings(c.settings)
    found = download_media(c.db, c.provider, cipher, principal(), media_id)
    headers = {"Content-Length": str(found.size)} if found.size is not None else {}
    return Response(found.chunks, mimetype=found.mime_type, headers=headers)


def _uploaded_file() -> MediaUpload:
    if request.mimetype != "multipart/form-data":
        raise ValidationError(
            "send the file as multipart/form-data", {"file": "expected a multipart form"}
        )
    file = request.files.get("file")
    if file is None or not file.mimetype:
        raise ValidationError("the form has no `file` with a content type", {"file": "required"})
    try:
        data = file.read()
    finally:
        file.close()  # a large part is spooled to a temporary file: let it go now
    return MediaUpload(
        filename=(file.filename or "upload")[:240], mime_type=file.mimetype, data=data
    )
