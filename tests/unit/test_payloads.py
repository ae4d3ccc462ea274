from datetime import UTC, datetime

import pytest

from pipeline.domain.errors import ValidationError
from tests.support import PAYLOADS
from webhooks.service import parse_payload


def _load(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_a_sent_status_is_parsed_with_its_callback_data_and_time() -> None:
    [value] = parse_payload(_load("status_sent.json")).message_changes()
    assert value.metadata is not None
    assert value.metadata.phone_number_id == "1000001"
    [item] = value.statuses
    assert item.status == "sent"
    assert item.biz_opaque_callback_data == "0b7e1f9e-5a53-4f0e-9a7c-2b7f2d3c4e51"
    assert item.at == datetime.fromtimestamp(1763800000, UTC)


def test_every_status_of_a_batch_is_kept_in_order() -> None:
    [value] = parse_payload(_load("status_batch_out_of_order.json")).message_changes()
    assert [s.status for s in value.statuses] == ["read", "sent", "delivered"]


def test_a_failed_status_carries_code_title_and_details() -> None:
    [value] = parse_payload(_load("status_failed_131047.json")).message_changes()
    [error] = value.statuses[0].errors
    assert error.code == 131047
    assert error.title == "Re-engagement message"
    assert error.error_data is not None
    assert "24 hours" in (error.error_data.details or "")


def test_an_inbound_text_is_parsed_with_its_sender_name() -> None:
    [value] = parse_payload(_load("inbound_text.json")).message_changes()
    [message] = value.messages
    assert message.from_ == "16505550142"
    assert message.text is not None
    assert message.text.body == "Hi, is my order on its way?"
    assert value.contacts[0].profile is not None
    assert value.contacts[0].profile.name == "Ada Lovelace"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "x", "entry": [{"changes": [{"field": "messages", "value": '
        b'{"statuses": [{"id": "w", "status": "sent", "timestamp": "soon"}]}}]}]}',
    ],
)
def test_bodies_that_are_not_the_expected_json_are_refused(body: bytes) -> None:
    with pytest.raises(ValidationError):
        parse_payload(body)
