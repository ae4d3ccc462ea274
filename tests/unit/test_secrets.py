"""Access tokens at rest, and the settings the API and the workers refuse to start with."""

import pytest
from cryptography.fernet import Fernet

from pipeline.config import Settings
from pipeline.crypto import PREFIX, SecretKeyError, TokenCipher, is_loopback
from pipeline.provider.client import OutboundText
from pipeline.startup import insecure_reason

META = "https://graph.facebook.com/v21.0"
FAKE = "http://127.0.0.1:8090/v21.0"


def _settings(**values: str) -> Settings:
    defaults = {
        "whatsapp_api_base_url": META,
        "whatsapp_app_secret": "a-long-random-app-secret",
        "whatsapp_verify_token": "a-long-random-verify-token",
        "wapipe_secret_key": Fernet.generate_key().decode(),
    }
    return Settings(**(defaults | values))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        (FAKE, True),
        ("http://localhost:8090/v21.0", True),
        ("http://[::1]:8090/v21.0", True),
        ("http://127.8.0.1/v21.0", True),
        (META, False),
        ("http://10.0.0.5:8090/v21.0", False),
        ("http://localhost.evil.example/v21.0", False),
    ],
)
def test_only_this_machine_counts_as_the_local_fake(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_token_is_stored_encrypted_and_read_back() -> None:
    cipher = TokenCipher.from_settings(_settings())
    stored = cipher.encrypt("EAAG-real-token")
    assert stored.startswith(PREFIX)
    assert "EAAG-real-token" not in stored
    assert cipher.decrypt(stored) == "EAAG-real-token"


def test_a_plain_text_row_from_before_encryption_still_reads() -> None:
    assert TokenCipher.from_settings(_settings()).decrypt("EAAG-old-plain") == "EAAG-old-plain"


def test_after_a_new_key_is_put_first_old_tokens_read_and_rotate_to_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = TokenCipher.from_settings(_settings(wapipe_secret_key=old)).encrypt("tok")
    both = TokenCipher.from_settings(_settings(wapipe_secret_key=f"{new}, {old}"))
    assert both.decrypt(stored) == "tok"
    rotated = both.reencrypt(stored)
    only_new = TokenCipher.from_settings(_settings(wapipe_secret_key=new))
    assert only_new.decrypt(rotated) == "tok"
    with pytest.raises(SecretKeyError):
        only_new.decrypt(stored)


def test_without_a_key_a_real_provider_gets_no_token_stored() -> None:
    cipher = TokenCipher.from_settings(_settings(wapipe_secret_key=""))
    with pytest.raises(SecretKeyError, match="WAPIPE_SECRET_KEY is not set"):
        cipher.encrypt("tok")


def test_without_a_key_the_local_fake_gets_a_dev_key_that_a_real_key_still_reads() -> None:
    dev = TokenCipher.from_settings(_settings(wapipe_secret_key="", whatsapp_api_base_url=FAKE))
    stored = dev.encrypt("demo-token")
    assert stored.startswith(PREFIX)
    keyed = _settings(whatsapp_api_base_url=FAKE)
    assert TokenCipher.from_settings(keyed).decrypt(stored) == "demo-token"
    with pytest.raises(SecretKeyError):  # the dev key never decrypts for a real provider
        TokenCipher.from_settings(_settings()).decrypt(stored)


def test_a_malformed_key_is_named_by_position_never_shown() -> None:
    good = Fernet.generate_key().decode()
    reason = insecure_reason(_settings(wapipe_secret_key=f"{good},not-a-key-xyz"))
    assert reason is not None
    assert "key 2 is not a Fernet key" in reason
    assert "not-a-key-xyz" not in reason
    assert good not in reason


def test_real_secrets_with_a_real_provider_may_start() -> None:
    assert insecure_reason(_settings()) is None


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("whatsapp_app_secret", "dev-app-secret", "WHATSAPP_APP_SECRET"),
        ("whatsapp_app_secret", " ", "WHATSAPP_APP_SECRET"),
        ("whatsapp_app_secret", "change-me", "WHATSAPP_APP_SECRET"),
        ("whatsapp_verify_token", "dev-verify-token", "WHATSAPP_VERIFY_TOKEN"),
        ("whatsapp_verify_token", "", "WHATSAPP_VERIFY_TOKEN"),
        ("wapipe_secret_key", "", "WAPIPE_SECRET_KEY"),
    ],
)
def test_a_default_or_empty_secret_with_a_real_provider_is_refused(
    field: str, value: str, named: str
) -> None:
    reason = insecure_reason(_settings(**{field: value}))
    assert reason is not None
    assert named in reason
    assert "\n" not in reason


def test_the_defaults_are_fine_with_the_local_fake() -> None:
    assert insecure_reason(Settings(whatsapp_api_base_url=FAKE, wapipe_secret_key="")) is None


def test_a_send_never_shows_its_token_or_text_in_a_repr() -> None:
    send = OutboundText("1000001", "EAAG-secret", "+16505550142", "private words", "cb")
    assert "EAAG-secret" not in repr(send)
    assert "private words" not in repr(send)
