import json

import pytest

from pipeline.provider.client import OutboundText, build_payload, parse_error
from pipeline.provider.errors import ErrorKind, classify_code, holds_channel, throttle_backoff_ms


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (131000, ErrorKind.TRANSIENT),
        (1, ErrorKind.TRANSIENT),
        (131057, ErrorKind.TRANSIENT),
        (130429, ErrorKind.THROTTLED),
        (131056, ErrorKind.THROTTLED),
        (80007, ErrorKind.THROTTLED),
        (190, ErrorKind.CHANNEL_HALT),
        (131048, ErrorKind.CHANNEL_HALT),
        (250, ErrorKind.CHANNEL_HALT),
        (131031, ErrorKind.CHANNEL_HALT),
        (100, ErrorKind.PERMANENT),
        (131047, ErrorKind.PERMANENT),
        (131026, ErrorKind.PERMANENT),
        (132001, ErrorKind.PERMANENT),
        (999999, ErrorKind.PERMANENT),
    ],
)
def test_codes_are_classified_as_the_provider_notes_say(code: int, kind: ErrorKind) -> None:
    assert classify_code(code) is kind


def test_without_a_code_the_http_status_decides() -> None:
    assert classify_code(None, 502) is ErrorKind.TRANSIENT
    assert classify_code(None, 429) is ErrorKind.TRANSIENT
    assert classify_code(None, 400) is ErrorKind.PERMANENT


def test_an_error_body_is_parsed_by_code_not_by_text() -> None:
    body = {
        "error": {
            "message": "(#131047) Re-engagement message",
            "code": 131047,
            "error_data": {"details": "24 hours passed"},
            "fbtrace_id": "Axyz",
        }
    }
    error = parse_error(400, json.dumps(body).encode())
    assert error.kind is ErrorKind.PERMANENT
    assert error.error_code == "131047"
    assert error.details == "24 hours passed"
    assert error.fbtrace_id == "Axyz"


def test_a_non_json_5xx_is_transient() -> None:
    error = parse_error(502, b"<html>bad gateway</html>")
    assert error.kind is ErrorKind.TRANSIENT
    assert error.code is None


def test_the_send_body_carries_our_id_and_the_reply_context() -> None:
    message = OutboundText("123", "tok", "+16505550142", "hi", "our-id", reply_to_wamid="wamid.X")
    payload = build_payload(message)
    assert payload["to"] == "16505550142"
    assert payload["biz_opaque_callback_data"] == "our-id"
    assert payload["context"] == {"message_id": "wamid.X"}
    assert payload["text"]["body"] == "hi"


def test_a_pair_rate_limit_waits_four_to_the_n_seconds_from_n_zero() -> None:
    waits = [throttle_backoff_ms(131056, n, base_ms=100, max_ms=400) for n in range(4)]
    assert waits == [1_000, 4_000, 16_000, 64_000]  # Meta's rule, not capped by ours
    assert throttle_backoff_ms(131056, 50, 100, 400) == 4**6 * 1000


def test_a_throughput_limit_doubles_from_the_minimum_up_to_the_maximum() -> None:
    waits = [throttle_backoff_ms(130429, n, base_ms=1_000, max_ms=5_000) for n in range(5)]
    assert waits == [1_000, 2_000, 4_000, 5_000, 5_000]


def test_only_limits_of_the_whole_number_or_account_hold_the_channel() -> None:
    assert all(holds_channel(code) for code in (130429, 80007, 4))
    assert not any(holds_channel(code) for code in (131056, 131000, 190, None))
