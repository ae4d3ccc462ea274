"""Switches of the fake WhatsApp Cloud API provider, settable from the CLI and at runtime."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Shown instead of the app secret so GET /_fake/config never leaks it.
REDACTED = "***"

_RATES = ("error_rate", "timeout_rate", "duplicate_rate", "fail_rate")
_NON_NEGATIVE = ("latency_ms", "timeout_seconds", "status_delay_ms")


@dataclass
class FakeConfig:
    """Behaviour switches; every field can be changed with ``PATCH /_fake/config``."""

    latency_ms: int = 0
    error_rate: float = 0.0
    error_codes: list[int] = field(default_factory=lambda: [131000])
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    reorder: bool = False
    duplicate_rate: float = 0.0
    batch: bool = False
    status_delay_ms: int = 200
    send_statuses: bool = True
    fail_rate: float = 0.0
    accept_any_token: bool = False
    # Refuse a non-template send to a customer who has not written in 24 hours (131047).
    enforce_window: bool = False
    webhook_url: str = ""
    app_secret: str = field(default="", repr=False)

    def copy(self) -> FakeConfig:
        return dataclasses.replace(self, error_codes=list(self.error_codes))

    def to_public_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["app_secret"] = REDACTED if self.app_secret else ""
        return data

    def patched(self, patch: Mapping[str, Any]) -> FakeConfig:
        """A validated copy with ``patch`` applied; TypeError/ValueError name the bad field."""
        new = self.copy()
        known = {f.name: f for f in dataclasses.fields(self)}
        for key, value in patch.items():
            if key not in known:
                raise ValueError(f"unknown config field {key!r}")
            setattr(new, key, _coerce(key, value, getattr(self, key)))
        return new


def _coerce(key: str, value: Any, current: Any) -> Any:
    # bool is checked first because it is a subclass of int and would slip through the int checks.
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise TypeError(f"{key} must be a boolean")
        return value
    if key == "error_codes":
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in value)
        ):
            raise TypeError("error_codes must be a non-empty list of integers")
        return list(value)
    if isinstance(current, str):
        if not isinstance(value, str):
            raise TypeError(f"{key} must be a string")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{key} must be a number")
    if key in _RATES and not 0.0 <= value <= 1.0:
        raise ValueError(f"{key} must be between 0 and 1")
    if key in _NON_NEGATIVE and value < 0:
        raise ValueError(f"{key} must not be negative")
    return int(value) if isinstance(current, int) else float(value)


# Plausible Meta titles and details per code; unknown codes fall back to "Error".
ERRORS: dict[int, tuple[str, str]] = {
    0: ("AuthException", "We were unable to authenticate the app user."),
    1: ("API Unknown", "Invalid request or possible server error."),
    2: ("API Service", "Temporary due to downtime or due to being overloaded."),
    4: ("API Too Many Calls", "The app has reached its API call rate limit."),
    10: ("Permission Denied", "Permission is either not granted or has been removed."),
    100: (
        "Invalid parameter",
        "The request included one or more unsupported or misspelled parameters.",
    ),
    190: ("Invalid OAuth access token", "Invalid OAuth access token - Cannot parse access token"),
    368: (
        "Temporarily blocked for policies violations",
        "The WhatsApp Business Account is restricted.",
    ),
    80007: ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    130472: (
        "User's number is part of an experiment",
        "Message was not sent as part of an experiment.",
    ),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131008: ("Required parameter is missing", "The request is missing a required parameter."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
    131016: ("Service unavailable", "A service is temporarily unavailable."),
    131021: ("Recipient cannot be sender", "Sender and recipient phone number is the same."),
    131026: (
        "Message undeliverable",
        "Message failed to send because the recipient could not be reached on WhatsApp.",
    ),
    131031: ("Account has been locked", "The WhatsApp Business Account has been locked."),
    131042: ("Business eligibility payment issue", "There was an error related to payment."),
    131047: (
        "Re-engagement message",
        (
            "Message failed to send because more than 24 hours have passed since the customer "
            "last replied to this number."
        ),
    ),
    131048: ("Spam rate limit hit", "Message failed to send because of restrictions on quality."),
    131049: ("Meta chose not to deliver", "This message was not delivered to maintain engagement."),
    131051: ("Unsupported message type", "Unsupported message type."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        (
            "Too many messages sent from the sender phone number to the same recipient "
            "in a short period of time."
        ),
    ),
    131057: ("Account in maintenance mode", "The business account is in maintenance mode."),
    132000: ("Template Param Count Mismatch", "The number of parameters does not match."),
    132001: ("Template does not exist", "The template does not exist in the specified language."),
    133010: ("Phone number not registered", "The phone number is not registered on WhatsApp."),
}


BAD_OAUTH_MESSAGE = "Invalid OAuth access token - Cannot parse access token"


def error_body(code: int, message: str, details: str) -> dict[str, Any]:
    """Meta's error envelope; ``fbtrace_id`` is random, as clients only log it."""
    error = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": secrets.token_urlsafe(18),
    }
    return {"error": error}


def status_error(code: int) -> dict[str, Any]:
    """An entry of a ``failed`` status's ``errors`` list."""
    return {
        "code": code,
        "title": error_title(code),
        "message": error_title(code),
        "error_data": {"details": error_details(code)},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


def error_message(code: int) -> str:
    return BAD_OAUTH_MESSAGE if code == 190 else f"(#{code}) {error_title(code)}"


def error_title(code: int) -> str:
    return ERRORS.get(code, ("Error", ""))[0]


def error_details(code: int) -> str:
    return ERRORS.get(code, ("", "Injected error"))[1] or "Injected error"


def http_status_for(code: int) -> int:
    """The HTTP status Meta tends to pair with ``code``; clients must branch on the code only."""
    if code in (0, 190):
        return 401
    if code in (4, 80007, 130429, 131056):
        return 429
    if code == 131016:
        return 503
    if code in (1, 2, 131000):
        return 500
    return 400
