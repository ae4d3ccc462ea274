"""Provider errors, classified in one place: what a sender should do about each code."""

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    TRANSIENT = "transient"  # back off with jitter, bounded
    THROTTLED = "throttled"  # slow down: a rate limit of the app, number or recipient
    PERMANENT = "permanent"  # fail the message at once
    CHANNEL_HALT = "channel_halt"  # the channel itself is broken (token, account, quality)
    # The request may have reached the provider (timeout after sending): resending blindly
    # could deliver twice, so it waits for a status webhook before trying again.
    AMBIGUOUS = "ambiguous"


_TRANSIENT_CODES = {1, 2, 131000, 131016, 131057}
_THROTTLED_CODES = {4, 80007, 130429, 131056}
_HALT_CODES = {0, 3, 10, 190, 368, 131031, 131042, 131048, 133010, *range(200, 300)}
# Media download/upload errors: worth one more try, then permanent (see retry_budget).
_RETRY_ONCE_CODES = {131052, 131053}


def classify_code(code: int | None, http_status: int | None = None) -> ErrorKind:
    """Classify a Cloud API error by ``error.code``; the HTTP status only when there is none."""
    if code is None:
        if http_status is not None and (http_status >= 500 or http_status == 429):
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    if code in _TRANSIENT_CODES or code in _RETRY_ONCE_CODES:
        return ErrorKind.TRANSIENT
    if code in _THROTTLED_CODES:
        return ErrorKind.THROTTLED
    if code in _HALT_CODES:
        return ErrorKind.CHANNEL_HALT
    # Everything else (invalid parameters, 24 h window, undeliverable, template problems,
    # codes we have never seen) is permanent: retrying an unknown error risks a loop.
    return ErrorKind.PERMANENT


def retry_budget(code: int | None, max_attempts: int) -> int:
    """How many delivery attempts an error of ``code`` deserves in total."""
    return 2 if code in _RETRY_ONCE_CODES else max_attempts


def min_backoff_ms(code: int | None, kind: ErrorKind, attempt: int, base_ms: int) -> int:
    """The least time to wait before the next attempt, before jitter (rate limits: see
    throttle_backoff_ms)."""
    if code == 131057:  # account maintenance lasts up to about a minute
        return 60_000
    return int(base_ms * 2 ** (attempt - 1))


PAIR_RATE_LIMIT = 131056
_MAX_STREAK = 6  # 4^6 s is over an hour: Meta's pair limit never asks for more


def throttle_backoff_ms(code: int | None, streak: int, base_ms: int, max_ms: int) -> int:
    """How long a rate-limited message waits, ``streak`` being how many of the same code it
    met just before this one (0 the first time). 131056, the pair rate limit, is Meta's
    4^n seconds, uncapped; the others double from ``base_ms`` up to ``max_ms``."""
    n = min(streak, _MAX_STREAK)
    if code == PAIR_RATE_LIMIT:
        return int(1000 * 4**n)
    return int(min(base_ms * 2**n, max_ms))


def holds_channel(code: int | None) -> bool:
    """A rate limit of the whole number, app or account (130429, 80007, 4), not of one
    recipient: the channel as a whole must slow down."""
    return code in _THROTTLED_CODES and code != PAIR_RATE_LIMIT


@dataclass
class ProviderError(Exception):
    """Raised when the provider refuses a send or cannot be reached."""

    kind: ErrorKind
    code: int | None
    title: str
    details: str | None = None
    http_status: int | None = None
    fbtrace_id: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} provider error {self.code}: {self.title}"

    @property
    def error_code(self) -> str:
        """The stable code stored on the message: the provider's number, or what went wrong."""
        if self.code is not None:
            return str(self.code)
        return "timeout" if self.kind is ErrorKind.AMBIGUOUS else "network_error"
