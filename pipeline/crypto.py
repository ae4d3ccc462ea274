"""Channel access tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) under WAPIPE_SECRET_KEY.

WAPIPE_SECRET_KEY holds one or more keys, comma-separated: the first encrypts, every one
decrypts, so a new key can be put first, `wapipe secrets rotate` re-encrypts every token with
it, and the old key is then dropped. A stored token reads `fernet:<token>`; a row without the
prefix is plain text left from before encryption, still readable until a rotate encrypts it.
"""

import base64
import hashlib
import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pipeline.config import Settings
from pipeline.domain.errors import WapipeError

PREFIX = "fernet:"
# Used only when WAPIPE_SECRET_KEY is empty and the provider is the local fake on loopback
# (`wapipe up`, tests): its tokens are not secrets. It is published here, hence never used
# with a real provider.
_DEV_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"wapipe local fake only").digest())


class SecretKeyError(WapipeError):
    """Raised when a token cannot be encrypted or decrypted with WAPIPE_SECRET_KEY."""


def is_loopback(url: str) -> bool:
    """Whether a base URL points at this machine (the local fake provider)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_keys(value: str) -> list[bytes]:
    """The keys of WAPIPE_SECRET_KEY; ValueError names a malformed one (never its value)."""
    keys = [part.strip().encode() for part in value.split(",") if part.strip()]
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(
                f"WAPIPE_SECRET_KEY: key {number} is not a Fernet key (32 url-safe base64 "
                "bytes; `wapipe secrets generate-key` makes one)"
            ) from None
    return keys


def new_key() -> str:
    return Fernet.generate_key().decode()


_PLAIN_CACHE_SIZE = 1024


@dataclass(frozen=True)
class TokenCipher:
    """Encrypts and decrypts channel access tokens; holds no key when none may be used."""

    fernet: MultiFernet | None
    # Stored form -> plain token: a worker decrypts its channel's token on every claim, and
    # Fernet (HMAC check and AES) was a fortieth of a delivery's CPU. A stored form is unique
    # to one encryption, so a rotated token is a new entry; the cache is bounded.
    _plain: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "TokenCipher":
        return _cipher(settings.wapipe_secret_key, is_loopback(settings.whatsapp_api_base_url))

    def encrypt(self, token: str) -> str:
        if self.fernet is None:
            raise SecretKeyError(
                "WAPIPE_SECRET_KEY is not set: access tokens are stored encrypted "
                "(`wapipe secrets generate-key` makes a key)"
            )
        return PREFIX + self.fernet.encrypt(token.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(PREFIX):
            return stored  # plain text from before encryption; `wapipe secrets rotate` fixes it
        plain = self._plain.get(stored)
        if plain is None:
            plain = self._decrypt(stored)
            if len(self._plain) >= _PLAIN_CACHE_SIZE:
                self._plain.clear()
            self._plain[stored] = plain
        return plain

    def _decrypt(self, stored: str) -> str:
        if self.fernet is None:
            raise SecretKeyError("WAPIPE_SECRET_KEY is not set: cannot decrypt access tokens")
        try:
            return self.fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "an access token was encrypted with a key WAPIPE_SECRET_KEY does not hold"
            ) from None

    def reencrypt(self, stored: str) -> str:
        """The stored form under the first key (plain text gets encrypted)."""
        return self.encrypt(self.decrypt(stored))


def derived_fernet(settings: Settings, purpose: bytes) -> MultiFernet | None:
    """A Fernet for one ``purpose`` (the inbox's session cookie), under keys derived from each
    WAPIPE_SECRET_KEY key: a value sealed for one purpose never opens as another (a cookie is
    not an access token), and rotating WAPIPE_SECRET_KEY rotates it too. None without keys."""
    keys = _usable_keys(settings.wapipe_secret_key, is_loopback(settings.whatsapp_api_base_url))
    if not keys:
        return None
    derived = [hashlib.sha256(purpose + b"\0" + key).digest() for key in keys]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(key)) for key in derived])


def _usable_keys(value: str, loopback: bool) -> list[bytes]:
    """The keys of WAPIPE_SECRET_KEY, and with the loopback fake the dev key too: tokens
    stored by `wapipe up` survive setting a real key (a rotate then re-encrypts them)."""
    return parse_keys(value) + ([_DEV_KEY] if loopback else [])


# Built once per key string: a worker decrypts on every claim.
_ciphers: dict[tuple[str, bool], TokenCipher] = {}


def _cipher(value: str, loopback: bool) -> TokenCipher:
    found = _ciphers.get((value, loopback))
    if found is None:
        keys = _usable_keys(value, loopback)
        fernet = MultiFernet([Fernet(key) for key in keys]) if keys else None
        found = _ciphers[(value, loopback)] = TokenCipher(fernet)
    return found
