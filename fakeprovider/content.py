"""What the fake keeps beyond sends: template catalogues, uploaded media, and when each
customer last wrote (the 24-hour window); and the checks Meta makes with them."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

WINDOW_S = 24 * 3600
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")


class TemplateRefused(ValueError):
    """A template send Meta refuses: ``code`` is 132001 (unknown) or 132000 (parameters)."""

    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code


@dataclass(frozen=True)
class StoredMedia:
    media_id: str
    phone_number_id: str
    mime_type: str
    data: bytes = field(repr=False)


class ContentState:
    """Thread-safe; survives /_fake/reset (a catalogue is configuration, not a counter)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: dict[str, list[dict[str, Any]]] = {}
        self._media: dict[str, StoredMedia] = {}
        self._last_inbound: dict[tuple[str, str], float] = {}

    # -- templates ---------------------------------------------------------------------------
    def put_templates(self, waba_id: str, templates: list[dict[str, Any]]) -> None:
        with self._lock:
            self._templates[waba_id] = [
                {"id": t.get("id") or str(secrets.randbelow(10**15)), **t} for t in templates
            ]

    def templates(self, waba_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._templates.get(waba_id, []))

    def check_template(self, waba_id: str, template: dict[str, Any]) -> None:
        """TemplateRefused unless the send names an approved template of the catalogue in
        its language with as many body parameters as the template has variables."""
        with self._lock:
            configured = waba_id in self._templates
        if not configured:
            return  # no catalogue configured for this account: any template is taken
        language = template.get("language")
        code = language.get("code") if isinstance(language, dict) else None
        found = next(
            (
                t
                for t in self.templates(waba_id)
                if t.get("name") == template.get("name") and t.get("language") == code
            ),
            None,
        )
        if found is None or found.get("status", "APPROVED") != "APPROVED":
            raise TemplateRefused(132001, "template name does not exist in the translation")
        body: dict[str, Any] = next(
            (c for c in found.get("components", []) if str(c.get("type")).upper() == "BODY"), {}
        )
        wanted = len(set(_VARIABLE.findall(str(body.get("text", "")))))
        components = template.get("components") or []
        given = sum(
            len(c.get("parameters") or [])
            for c in components
            if isinstance(c, dict) and c.get("type") == "body"
        )
        if given != wanted:
            raise TemplateRefused(
                132000, f"body: number of localizable_params ({given}) does not match {wanted}"
            )

    # -- media -------------------------------------------------------------------------------
    def put_media(self, phone_number_id: str, mime_type: str, data: bytes) -> str:
        media_id = str(10**15 + secrets.randbelow(9 * 10**15))
        with self._lock:
            self._media[media_id] = StoredMedia(media_id, phone_number_id, mime_type, data)
        return media_id

    def media_count(self) -> int:
        with self._lock:
            return len(self._media)

    def media(self, media_id: str) -> StoredMedia | None:
        with self._lock:
            return self._media.get(media_id)

    # -- the 24-hour window ------------------------------------------------------------------
    def customer_wrote(self, phone_number_id: str, customer: str, at: float) -> None:
        with self._lock:
            key = (phone_number_id, customer)
            self._last_inbound[key] = max(at, self._last_inbound.get(key, 0.0))

    def window_open(self, phone_number_id: str, customer: str) -> bool:
        with self._lock:
            last = self._last_inbound.get((phone_number_id, customer))
        return last is not None and time.time() - last < WINDOW_S


def check_typed(kind: str, body: dict[str, Any]) -> str | None:
    """The Param error Meta gives for the object of a non-text, non-template send, if any."""
    typed = body.get(kind)
    if not isinstance(typed, dict):
        return f"Param {kind} is required for type {kind!r}"
    if kind in MEDIA_KINDS:
        if ("link" in typed) == ("id" in typed):
            return f"Param {kind} must have exactly one of link and id"
        if "caption" in typed and kind in ("audio", "sticker"):
            return f"Param {kind}['caption'] is not supported"
        return None
    if kind == "location":
        lat, lon = typed.get("latitude"), typed.get("longitude")
        ok = isinstance(lat, int | float) and isinstance(lon, int | float)
        if not ok or not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
            return "Param location['latitude'] and ['longitude'] must be valid coordinates"
        return None
    if kind == "interactive":
        action = typed.get("action")
        buttons = action.get("buttons") if isinstance(action, dict) else None
        if typed.get("type") == "button" and (not isinstance(buttons, list) or len(buttons) > 3):
            return "Param interactive['action']['buttons'] must have 1 to 3 buttons"
        return None
    if kind == "reaction":
        if not isinstance(typed.get("message_id"), str) or not typed.get("message_id"):
            return "Param reaction['message_id'] is required"
        return None
    return f"Param type {kind!r} is not supported"
