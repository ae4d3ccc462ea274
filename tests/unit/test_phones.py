import pytest

from pipeline.domain.phones import InvalidPhoneNumber, normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+1 650-555-0142", "+16505550142"),
        ("+1 (650) 555 0142", "+16505550142"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("+49 30 901820", "+4930901820"),
        ("+91 98765 43210", "+919876543210"),
        ("  +31.6.12345678 ", "+31612345678"),
    ],
)
def test_common_formats_normalise_to_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["650 555 0142", "6505550142", "(650) 555-0142"])
def test_a_number_without_country_code_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match="country code"):
        normalize_phone(raw)


@pytest.mark.parametrize("raw", ["+999 123", "+1 555", "+", "+abc", "00", "+1 650 555 01423456"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw)
