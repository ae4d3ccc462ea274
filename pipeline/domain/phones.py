"""Phone numbers: anything a person types, normalised to E.164."""

import re
from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """Raised when a phone number cannot be read as E.164."""


_INTERNATIONAL_00 = re.compile(r"^\s*00")


# Parsing and validating with phonenumbers was a tenth of the intake's CPU; a business writes
# to the same customers again and again. Only valid numbers are kept (a failed call caches
# nothing), at most this many: about 2 MB.
@lru_cache(maxsize=16_384)
def normalize_phone(raw: str) -> str:
    """Return ``raw`` as E.164 (``+14155550123``); it must carry its country code.

    Accepts a leading ``+`` or the international ``00`` prefix and any spacing and punctuation.
    """
    candidate = _INTERNATIONAL_00.sub("+", raw, count=1).strip()
    if not candidate.startswith("+"):
        raise InvalidPhoneNumber("must include the country code (start with + or 00)")
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
