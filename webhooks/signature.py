"""HMAC-SHA256 signatures of webhook bodies, as the WhatsApp Cloud API sends them."""

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """Return the `X-Hub-Signature-256` header value for ``body``."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check ``header`` against the HMAC of the exact raw ``body``, in constant time."""
    if not header or not secret or not header.startswith(PREFIX):
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 401).
    given = header.strip().encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, body).encode(), given)
