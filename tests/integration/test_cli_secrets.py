"""Channel access tokens: taken from a file or a hidden prompt, stored encrypted, rotated."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy import select, update

from db.models import Channel
from pipeline.bootstrap import Container
from pipeline.config import Settings
from pipeline.crypto import _DEV_KEY, PREFIX, TokenCipher
from pipeline.services.channels import reencrypt_tokens
from tests.cli_support import Wapipe
from tests.conftest import Tenant


def _stored_token(container: Container, company_id: uuid.UUID | str) -> str:
    with container.db.transaction() as session:
        stored = session.scalar(
            select(Channel.access_token).where(Channel.company_id == uuid.UUID(str(company_id)))
        )
        assert stored is not None
        return stored


def _pnid() -> str:
    return str(uuid.uuid4().int % 10**15)


def test_company_create_reads_the_token_from_a_file_and_stores_it_encrypted(
    wapipe: Wapipe, container: Container, tmp_path: Path
) -> None:
    token = f"EAAG-{uuid.uuid4().hex}"
    path = tmp_path / "token"
    path.write_text(token + "\n")
    args = ("company", "create", "--name", "Filed", "--phone-number-id", _pnid())
    result = wapipe(*args, "--access-token-file", str(path))
    assert token not in result.output
    company_id = result.output.split("company_id:")[1].split()[0]
    stored = _stored_token(container, company_id)
    assert stored.startswith(PREFIX)
    assert token not in stored
    assert TokenCipher.from_settings(container.settings).decrypt(stored) == token


def test_company_create_asks_for_the_token_hidden_when_none_is_given(
    wapipe: Wapipe, container: Container
) -> None:
    token = f"EAAG-{uuid.uuid4().hex}"
    args = ("company", "create", "--name", "Prompted", "--phone-number-id", _pnid(), "--json")
    result = wapipe(*args, input=token + "\n")
    assert token not in result.output  # the prompt does not echo it
    company_id = result.stdout.strip().splitlines()[-1].split('"company_id": "')[1][:36]
    cipher = TokenCipher.from_settings(container.settings)
    assert cipher.decrypt(_stored_token(container, company_id)) == token


def test_a_token_given_twice_or_empty_is_refused(wapipe: Wapipe, tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("t")
    args = ("company", "create", "--name", "Twice", "--phone-number-id", _pnid())
    result = wapipe(*args, "--access-token", "t", "--access-token-file", str(path), code=2)
    assert "not both" in result.output
    path.write_text("  \n")
    result = wapipe(*args, "--access-token-file", str(path), code=2)
    assert "the access token is empty" in result.output


def test_set_token_from_a_file_replaces_the_token_encrypted(
    wapipe: Wapipe, container: Container, tenant: Tenant, tmp_path: Path
) -> None:
    path = tmp_path / "token"
    path.write_text("EAAG-renewed-token")
    result = wapipe(
        "channels", "set-token", "--company", str(tenant.company_id),
        "--access-token-file", str(path),
    )  # fmt: skip
    assert "EAAG-renewed-token" not in result.output
    stored = _stored_token(container, tenant.company_id)
    assert stored.startswith(PREFIX)
    assert TokenCipher.from_settings(container.settings).decrypt(stored) == "EAAG-renewed-token"


@pytest.fixture
def restore_dev_key(container: Container) -> Iterator[list[str]]:
    """Keys a test encrypts the shared database's tokens with; afterwards every token goes
    back under the session's own (dev) key, so other tests' workers can read them."""
    keys: list[str] = []
    yield keys
    fernet = MultiFernet([Fernet(_DEV_KEY), *(Fernet(k) for k in keys)])
    reencrypt_tokens(container.db, TokenCipher(fernet))


def test_secrets_rotate_moves_every_token_to_the_first_key_and_encrypts_plain_ones(
    settings: Settings, container: Container, tenant: Tenant, restore_dev_key: list[str]
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    restore_dev_key.extend([old, new])
    with_old = Wapipe(settings.model_copy(update={"wapipe_secret_key": old}))
    with_old("secrets", "rotate")
    under_old = _stored_token(container, tenant.company_id)
    assert Fernet(old.encode()).decrypt(under_old.removeprefix(PREFIX).encode())

    with container.db.transaction() as session:  # a row left from before encryption
        session.execute(
            update(Channel)
            .where(Channel.company_id == tenant.company_id)
            .values(access_token="EAAG-plain")
        )
    both = Wapipe(settings.model_copy(update={"wapipe_secret_key": f"{new},{old}"}))
    done = both.json("secrets", "rotate", "--reason", "yearly rotation")
    assert done["were_plain"] >= 1
    assert done["channels"] >= done["were_plain"]

    only_new = TokenCipher(MultiFernet([Fernet(new.encode())]))
    stored = _stored_token(container, tenant.company_id)
    assert stored.startswith(PREFIX)
    assert only_new.decrypt(stored) == "EAAG-plain"
    actions = both.json("audit", "--action", "secrets.rotate")
    assert actions[0]["reason"] == "yearly rotation"
    assert old not in str(actions)
    assert new not in str(actions)


def test_generate_key_prints_a_key_wapipe_accepts(wapipe: Wapipe) -> None:
    key = wapipe("secrets", "generate-key").output.strip()
    assert TokenCipher(MultiFernet([Fernet(key.encode())])).encrypt("x").startswith(PREFIX)
