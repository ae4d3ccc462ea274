"""Secrets and keys with real processes: refusing unsafe settings, revoking keys everywhere,
and no token, API key, app secret or message text in any process's output.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from cryptography.fernet import Fernet, MultiFernet
from sqlalchemy.engine import make_url

from db.migrate import create_database, upgrade
from db.session import Database, make_engine
from pipeline.config import Settings
from pipeline.crypto import TokenCipher, new_key
from pipeline.services.tenants import create_company
from pipeline.startup import unreadable_tokens_reason
from tests.conftest import APP_SECRET, VERIFY_TOKEN
from tests.e2e.conftest import Stack
from tests.e2e.processes import WAPIPE
from tests.support import free_port, new_phone, signed_headers, status_body, wait_for

pytestmark = pytest.mark.e2e

META = "https://graph.facebook.com/v21.0"
REFUSAL = (
    "wapipe: refusing to start: WHATSAPP_APP_SECRET, WHATSAPP_VERIFY_TOKEN, WAPIPE_SECRET_KEY "
    "empty or a published default, and WHATSAPP_API_BASE_URL is not the local fake"
)


def _unsafe_env(settings: Settings) -> dict[str, str]:
    """A deployment pointed at Meta that forgot its secrets."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WHATSAPP_", "WAPIPE_SECRET_KEY", "WAPIPE_QUEUE"))
    }
    env.update(
        DATABASE_URL=settings.database_url,
        REDIS_URL=settings.redis_url,
        WHATSAPP_API_BASE_URL=META,
        WAPIPE_QUEUE_NAMESPACE=f"wapipe-refused-{uuid.uuid4().hex[:8]}",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.mark.parametrize(
    "argv",
    [
        [*WAPIPE, "api", "--port", "0"],
        [*WAPIPE, "worker", "--processes", "1", "--threads", "1"],
        [sys.executable, "-m", "gunicorn", "pipeline.api.wsgi:app", "--bind", "127.0.0.1:0"],
        [sys.executable, "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "1"],
    ],
    ids=["wapipe api", "wapipe worker", "gunicorn", "dramatiq"],
)
def test_the_api_and_workers_refuse_default_secrets_with_a_real_provider(
    settings: Settings, argv: list[str]
) -> None:
    if "gunicorn" in argv:
        argv[-1] = f"127.0.0.1:{free_port()}"
    done = subprocess.run(
        argv, env=_unsafe_env(settings), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode != 0
    assert REFUSAL in done.stderr
    if argv[:3] == WAPIPE:  # refused before gunicorn or dramatiq even start: one line
        assert done.stderr.strip() == f"{REFUSAL}; see README, Security"
        assert done.stdout == ""


@pytest.fixture
def fresh_database_url() -> Iterator[str]:
    """A migrated database of its own (the shared one holds tokens under many keys)."""
    url = f"postgresql+psycopg:///wapipe_keys_{uuid.uuid4().hex[:8]}"
    create_database(url)
    upgrade(url)
    yield url
    with psycopg.connect("dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')


def test_a_worker_whose_key_reads_none_of_the_stored_tokens_refuses_to_start(
    settings: Settings, fresh_database_url: str
) -> None:
    """A key from another deployment, or a rotation's new key without the old one: the
    worker would send nothing, so it says so instead of starting."""
    old, other = new_key(), new_key()
    db = Database(make_engine(fresh_database_url, pool_size=1))
    try:
        for n in range(2):
            cipher = TokenCipher(MultiFernet([Fernet(old.encode())]))
            create_company(db, f"Keys {n}", f"99{n}", f"tok-secret-{n}", cipher=cipher)
    finally:
        db.dispose()
    env = _unsafe_env(settings) | {
        "DATABASE_URL": fresh_database_url,
        "WHATSAPP_APP_SECRET": f"app-{uuid.uuid4().hex}",
        "WHATSAPP_VERIFY_TOKEN": f"verify-{uuid.uuid4().hex}",
        "WAPIPE_SECRET_KEY": other,
    }
    argv = [*WAPIPE, "worker", "--processes", "1", "--threads", "1"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "wapipe: refusing to start: WAPIPE_SECRET_KEY decrypts none of the 2 stored access "
        "token(s) (another deployment's key, or a new key without the old one); "
        "see README, Security"
    )
    assert "tok-secret" not in done.stderr + done.stdout
    # The new key first and the old one still listed, as a rotation goes: it starts.
    rotating = settings.model_copy(
        update={
            "database_url": fresh_database_url,
            "whatsapp_api_base_url": META,
            "wapipe_secret_key": f"{other},{old}",
        }
    )
    assert unreadable_tokens_reason(rotating) is None
    # A database not up yet is no reason to refuse: the worker waits for it.
    unreachable = f"postgresql+psycopg://127.0.0.1:{free_port()}/wapipe"
    assert (
        unreadable_tokens_reason(rotating.model_copy(update={"database_url": unreachable})) is None
    )


def _wapipe(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [*WAPIPE, *args],
        env=stack.env | {"COLUMNS": "80", "WAPIPE_ACTOR": "e2e"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"wapipe {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _company(stack: Stack, fake_admin: httpx.Client, tmp_path: Path, fake_token: str = "") -> Any:
    """A company made with `wapipe company create --access-token-file`; the fake provider
    knows its channel with ``fake_token`` (by default the same token)."""
    pnid, token = str(uuid.uuid4().int % 10**15), f"tok-secret-{uuid.uuid4().hex}"
    path = tmp_path / f"token-{pnid}"
    path.write_text(token)
    created = _wapipe(
        stack, "company", "create", "--name", "Leak Test", "--phone-number-id", pnid,
        "--access-token-file", str(path), "--json",
    )  # fmt: skip
    new = json.loads(created.strip().splitlines()[-1])
    channel = {"access_token": fake_token or token}
    fake_admin.put(f"/_fake/channels/{pnid}", json=channel).raise_for_status()
    return new["company_id"], new["api_key"], pnid, token


def test_a_revoked_key_is_refused_by_every_api_process_within_5_seconds(
    stack: Stack, fake_admin: httpx.Client, tmp_path: Path
) -> None:
    company_id, _, _, _ = _company(stack, fake_admin, tmp_path)
    new = json.loads(_wapipe(stack, "keys", "create", "--company", company_id, "--json"))
    headers = {"Authorization": f"Bearer {new['api_key']}", "Connection": "close"}

    def answers() -> set[int]:
        # New connections, so both gunicorn workers (each with its own key cache) answer.
        url = f"{stack.api_url}/v1/messages/{uuid.uuid4()}"
        return {httpx.get(url, headers=headers, timeout=5).status_code for _ in range(12)}

    assert answers() == {404}  # valid, and now cached by the processes that answered
    _wapipe(stack, "keys", "revoke", new["key_id"], "--company", company_id)
    revoked_at = time.monotonic()
    wait_for(lambda: answers() == {401}, timeout=15, interval=0.1, what="the key refused")
    assert time.monotonic() - revoked_at <= 5.5
    assert answers() == {401}


def test_no_process_output_dead_letter_or_error_body_holds_a_secret(
    stack: Stack, fake_admin: httpx.Client, tmp_path: Path
) -> None:
    text = f"private-text-{uuid.uuid4().hex}"
    company_id, api_key, pnid, token = _company(stack, fake_admin, tmp_path)
    _, key_b, _, token_b = _company(stack, fake_admin, tmp_path, fake_token="rotated")
    secrets = {
        "access token": token,
        "second access token": token_b,
        "API key": api_key,
        "second API key": key_b,
        "app secret": APP_SECRET,
        "verify token": VERIFY_TOKEN,
        "message text": text,
    }
    bodies = _hostile_requests(stack, api_key, text, pnid)
    ids = _failing_and_working_sends(stack, fake_admin, api_key, key_b, text)

    cli = [
        _wapipe(stack, "channels", "list", "--json"),
        _wapipe(stack, "keys", "list", "--company", company_id, "--json"),
        _wapipe(stack, "stats"),
        _wapipe(stack, "dlq", "list"),
        _wapipe(stack, "audit", "--company", company_id),
        *(_wapipe(stack, "messages", "show", i) for i in ids),
    ]
    assert stack.logs is not None
    logs = {p.name: p.read_text(errors="replace") for p in stack.logs.iterdir()}
    assert set(logs) >= {"api.log", "worker.log", "fake.log"}
    assert "190" in logs["worker.log"]  # the failing paths ran, and were logged
    stored = _redis_values(stack)

    leaks = [
        f"{what} in {where}"
        for what, secret in secrets.items()
        for where, output in [*logs.items(), ("an error body", bodies), ("Redis", stored)]
        if secret in output
    ]
    # CLI output may show a message's own text; never a credential.
    leaks += [
        f"{what} in CLI output"
        for what, secret in secrets.items()
        if what != "message text" and any(secret in out for out in cli)
    ]
    assert not leaks


def _hostile_requests(stack: Stack, api_key: str, text: str, pnid: str) -> str:
    """Bad requests carrying the secrets; every answer a 4xx; their bodies, joined."""
    auth = {"Authorization": f"Bearer {api_key}"}
    json_type = {"Content-Type": "application/json"}
    deep = '{"to": "+16505550142", "text": "' + text + '", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    inbound = {"from": "1" * 400 + text, "id": f"wamid.{uuid.uuid4().hex}", "type": "text"}
    inbound |= {"timestamp": "1700000000", "text": {"body": text}}
    signed = status_body(pnid, [], [inbound])
    unparsable = f'{{"object": "{text}", "entry": [{{'.encode()
    answers = []
    with httpx.Client(base_url=stack.api_url, timeout=10) as http:
        answers += [
            http.post(
                "/v1/messages", json={"to": new_phone(), "text": text + "\x00"}, headers=auth
            ),
            http.post("/v1/messages", json={"to": new_phone(), "text": text * 300}, headers=auth),
            http.post("/v1/messages", content=deep, headers=auth | json_type),
            http.post("/v1/messages", content=f'{{"text": "{text}', headers=auth | json_type),
            http.post("/v1/messages", content=text.encode() + b"\xff", headers=auth | json_type),
            http.post("/v1/messages", json={"to": text, "text": text}, headers=auth),
            http.get(f"/v1/conversations?q={text}&cursor={text}", headers=auth),
            http.get("/v1/conversations", headers={"Authorization": f"Bearer wap_{text}"}),
            http.post("/webhooks/whatsapp", content=signed, headers=json_type),
            http.post(
                "/webhooks/whatsapp", content=signed, headers=signed_headers("wrong", signed)
            ),
            http.post(
                "/webhooks/whatsapp",
                content=unparsable,
                headers=signed_headers(APP_SECRET, unparsable),
            ),
            http.get(
                "/webhooks/whatsapp",
                params={"hub.mode": "subscribe", "hub.verify_token": text, "hub.challenge": "1"},
            ),
        ]
        bad_item = http.post(
            "/webhooks/whatsapp", content=signed, headers=signed_headers(APP_SECRET, signed)
        )
    statuses = [a.status_code for a in answers]
    assert all(400 <= s < 500 for s in statuses), statuses
    assert bad_item.status_code in (200, 400)  # refused, or stored and its bad item recorded
    return "\n".join(a.text for a in [*answers, bad_item])


def _failing_and_working_sends(
    stack: Stack, fake_admin: httpx.Client, api_key: str, key_b: str, text: str
) -> list[str]:
    """A send that works, one failed by the provider, one retried after a transient error,
    and one whose token the provider rejects (its channel pauses): all with the text."""
    ok, permanent, transient = new_phone(), new_phone(), new_phone()
    for to, code in ((permanent, 131026), (transient, 131000)):
        fake_admin.post("/_fake/rules", json={"to": to, "code": code}).raise_for_status()
    sent = []
    for key, to in ((api_key, ok), (api_key, permanent), (api_key, transient), (key_b, ok)):
        answer = httpx.post(
            f"{stack.api_url}/v1/messages",
            json={"to": to, "text": text},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        sent.append((key, answer.json()["id"]))

    def outcomes() -> list[str] | None:
        found = [
            httpx.get(
                f"{stack.api_url}/v1/messages/{i}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            ).json()
            for key, i in sent
        ]
        statuses = [m["status"] for m in found]
        return statuses if statuses[:3] == ["read", "failed", "read"] else None

    wait_for(outcomes, timeout=60, interval=0.25, what="every send's outcome")

    # The channel whose token the provider rejected is paused (code 190), not failing.
    def paused() -> bool:
        channels = json.loads(_wapipe(stack, "channels", "list", "--json"))
        return any(c["pause_code"] == "190" for c in channels)

    wait_for(paused, timeout=30, what="the channel with a rejected token to pause")
    return [i for _, i in sent]


def _redis_values(stack: Stack) -> str:
    """Everything the stack keeps in Redis (queued and dead jobs included), as text."""
    client = redis.Redis.from_url(stack.env["REDIS_URL"])
    values: list[Any] = []
    try:
        for key in client.scan_iter(f"{stack.env['WAPIPE_QUEUE_NAMESPACE']}*"):
            kind = client.type(key)
            if kind == b"string":
                values.append(client.get(key))
            elif kind == b"hash":
                values.append(client.hgetall(key))
            elif kind == b"list":
                values.append(client.lrange(key, 0, -1))
            elif kind == b"zset":
                values.append(client.zrange(key, 0, -1))
            elif kind == b"set":
                values.append(client.smembers(key))
    finally:
        client.close()
    return repr(values)
