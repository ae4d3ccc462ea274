"""The API and the workers refuse to start with secrets anyone could know, and a worker with
a key that reads none of the stored access tokens.

A published default `WHATSAPP_APP_SECRET` lets anyone sign webhooks; a default verify token
lets anyone subscribe the endpoint; no `WAPIPE_SECRET_KEY` leaves tokens unreadable or in
plain text. All three are allowed only with the local fake on loopback (`wapipe up`, tests).
"""

import sys

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from pipeline.config import Settings
from pipeline.crypto import SecretKeyError, TokenCipher, is_loopback, parse_keys

# The defaults of Settings and the placeholder of deploy/wapipe.env.example: all published.
KNOWN_SECRETS = frozenset({"", "dev-app-secret", "dev-verify-token", "change-me"})


def insecure_reason(settings: Settings) -> str | None:
    """Why these settings must not serve a real provider, in one line; None if they may."""
    try:
        keys = parse_keys(settings.wapipe_secret_key)
    except ValueError as exc:
        return f"refusing to start: {exc}"
    if is_loopback(settings.whatsapp_api_base_url):
        return None
    weak = [
        name
        for name, value in (
            ("WHATSAPP_APP_SECRET", settings.whatsapp_app_secret),
            ("WHATSAPP_VERIFY_TOKEN", settings.whatsapp_verify_token),
        )
        if value.strip() in KNOWN_SECRETS
    ]
    if not keys:
        weak.append("WAPIPE_SECRET_KEY")
    if not weak:
        return None
    return (
        f"refusing to start: {', '.join(weak)} empty or a published default, "
        "and WHATSAPP_API_BASE_URL is not the local fake; see README, Security"
    )


def refuse_if_insecure(settings: Settings) -> None:
    """Exit with one line on stderr (status 2) if the settings are unsafe."""
    _refuse(insecure_reason(settings))


# The stored access tokens a worker tries before it starts, until one decrypts (the first,
# unless the key is wrong: a shared database may hold some under keys being rotated out).
_TOKENS_SQL = text("SELECT access_token FROM channels WHERE access_token LIKE 'fernet:%'")


def unreadable_tokens_reason(settings: Settings) -> str | None:
    """Why a worker must not start: WAPIPE_SECRET_KEY decrypts none of the stored access
    tokens (another deployment's key, or a rotation's new key without the old one), so it
    would send nothing. None when one is readable, none is stored, or the database cannot
    be reached yet (the worker waits for it, and gives back what it cannot read)."""
    cipher = TokenCipher.from_settings(settings)
    engine = create_engine(settings.database_url, connect_args={"connect_timeout": 5})
    tried = 0
    try:
        with (
            engine.connect() as conn,
            conn.execution_options(stream_results=True).execute(_TOKENS_SQL) as tokens,
        ):
            for token in tokens:
                if _readable(cipher, token.access_token):
                    return None
                tried += 1
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    if not tried:
        return None
    return (
        f"refusing to start: WAPIPE_SECRET_KEY decrypts none of the {tried} stored access "
        "token(s) (another deployment's key, or a new key without the old one); "
        "see README, Security"
    )


def refuse_if_tokens_unreadable(settings: Settings) -> None:
    """Exit with one line on stderr (status 2) if the key reads none of the tokens."""
    _refuse(unreadable_tokens_reason(settings))


def _readable(cipher: TokenCipher, stored: str) -> bool:
    try:
        cipher.decrypt(stored)
    except SecretKeyError:
        return False
    return True


def _refuse(reason: str | None) -> None:
    if reason is not None:
        print(f"wapipe: {reason}", file=sys.stderr)  # noqa: T201 - the one line an operator sees
        raise SystemExit(2)
