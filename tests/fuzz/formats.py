"""Values of the formats the OpenAPI document names (pipeline/api/openapi_formats.py).

A fuzzer cannot guess which phone numbers exist or which cursors a list hands out; these
strategies make them, so schemathesis's positive cases are values the API must accept.
Importing this module registers them: the fuzz test does, and so can a person running the
CLI by hand (`SCHEMATHESIS_HOOKS=tests.fuzz.formats schemathesis run ... --checks all`).
"""

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import phonenumbers
import schemathesis
from hypothesis import strategies as st

_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "NG", "JP", "AU", "MX", "ZA", "AE", "SG", "AR")


def _spellings(number: phonenumbers.PhoneNumber) -> list[str]:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return [
        e164,
        international,
        "00" + e164[1:],
        international.replace(" ", "-"),
        f"  {international.replace(' ', '.')} ",
    ]


_EXAMPLES = [
    spelling
    for region in _REGIONS
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    for spelling in _spellings(number)
]


def _is_valid(raw: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.parse(raw))


phones = st.one_of(
    st.sampled_from(_EXAMPLES),
    st.builds("+1 (650) {} {:04d}".format, st.integers(200, 999), st.integers(0, 9999)).filter(
        _is_valid
    ),
)


def _encode(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
conversation_cursors = st.builds(
    lambda at, last_id: _encode({"at": at.isoformat(), "id": str(last_id)}),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=_offsets),
    st.uuids(),
)
message_cursors = st.integers(-(2**63), 2**63 - 1).map(lambda seq: _encode({"seq": seq}))


def register() -> None:
    schemathesis.openapi.format("phone", phones)
    schemathesis.openapi.format("conversations-cursor", conversation_cursors)
    schemathesis.openapi.format("messages-cursor", message_cursors)


register()
# Hooks of typed content (uploads, templates), registered by importing them.
import tests.fuzz.content_hooks  # noqa: E402, F401
