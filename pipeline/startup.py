"""The API and the workers refuse to start with secrets anyone could know.

A published default `WHATSAPP_APP_SECRET` lets anyone sign webhooks; a default verify token
lets anyone subscribe the endpoint; no `WAPIPE_SECRET_KEY` leaves tokens unreadable or in
plain text. All three are allowed only with the local fake on loopback (`wapipe up`, tests).
"""

import sys

from pipeline.config import Settings
from pipeline.crypto import is_loopback, parse_keys

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
    reason = insecure_reason(settings)
    if reason is not None:
        print(f"wapipe: {reason}", file=sys.stderr)  # noqa: T201 - the one line an operator sees
        raise SystemExit(2)
