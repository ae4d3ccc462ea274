from webhooks.signature import is_valid_signature, sign

KNOWN = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"


def test_known_answer_from_the_provider_notes() -> None:
    assert sign("secret", b"test") == KNOWN
    assert is_valid_signature("secret", b"test", KNOWN)


def test_a_changed_body_or_secret_or_header_is_refused() -> None:
    assert not is_valid_signature("secret", b"test ", KNOWN)
    assert not is_valid_signature("other", b"test", KNOWN)
    assert not is_valid_signature("secret", b"test", KNOWN.replace("sha256=", "sha1="))
    assert not is_valid_signature("secret", b"test", KNOWN[:-1] + "0")


def test_missing_header_or_secret_is_refused() -> None:
    assert not is_valid_signature("secret", b"test", None)
    assert not is_valid_signature("secret", b"test", "")
    assert not is_valid_signature("", b"test", sign("", b"test"))
