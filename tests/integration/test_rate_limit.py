"""Requests a second per API key: 429 RATE_LIMITED with Retry-After beyond it, per key."""

import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from pipeline.api.app import create_app
from pipeline.api.ratelimit import ApiRateLimiter
from pipeline.config import Settings
from tests.cli_support import Wapipe
from tests.conftest import Tenant
from tests.support import free_port, wait_for


def _get(client: FlaskClient, api_key: str) -> tuple[int, dict[str, str], object]:
    response = client.get(
        f"/v1/messages/{uuid.uuid4()}", headers={"Authorization": f"Bearer {api_key}"}
    )
    return response.status_code, dict(response.headers), response.get_json()


def test_a_key_beyond_its_rate_gets_429_with_retry_after_and_others_are_untouched(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    slow = wapipe.json("keys", "create", "--company", str(tenant.company_id), "--rate", "1")
    burst = [_get(client, slow["api_key"])[0] for _ in range(2)]
    assert burst == [404, 404]  # a burst of twice the rate, then the limit

    status, headers, body = _get(client, slow["api_key"])
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body == {
        "error": {
            "code": "RATE_LIMITED",
            "message": "too many requests for this API key, retry later",
            "details": {"retry_after_seconds": 1},
        }
    }
    # Another company's key, and another key of the same company, have buckets of their own.
    assert _get(client, other_tenant.api_key)[0] == 404
    assert _get(client, tenant.api_key)[0] == 404


@pytest.fixture
def app_with(settings: Settings) -> Iterator[list[Flask]]:
    """Apps over containers of their own (other settings); closed afterwards."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["wapipe"].close()


def test_keys_without_a_rate_of_their_own_get_wapipe_api_rate_limit(
    settings: Settings, app_with: list[Flask], tenant: Tenant
) -> None:
    app = create_app(settings.model_copy(update={"wapipe_api_rate_limit": 2.0}))
    app_with.append(app)
    statuses = [_get(app.test_client(), tenant.api_key)[0] for _ in range(5)]
    assert statuses[:4] == [404] * 4
    assert statuses[4] == 429


def test_with_redis_down_the_api_answers_unlimited_and_says_so_once(
    settings: Settings, app_with: list[Flask], tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(settings.model_copy(update={"redis_url": dead, "wapipe_api_rate_limit": 1.0}))
    app_with.append(app)
    with caplog.at_level(logging.WARNING, logger="wapipe.ratelimit"):
        statuses = [_get(app.test_client(), tenant.api_key)[0] for _ in range(5)]
    assert statuses == [404] * 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "wapipe.ratelimit"]
    assert warnings == ["rate limiting is off until Redis is back: ConnectionError"]


def test_the_bucket_holds_twice_the_rate_and_refills(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    limiter = ApiRateLimiter(client, settings.wapipe_queue_namespace, 500.0)
    key = uuid.uuid4()
    assert all(limiter.check(key, 10).allowed for _ in range(20))
    refused = [limiter.check(key, 10) for _ in range(3)]
    assert not all(v.allowed for v in refused)
    wait_for(lambda: limiter.check(key, 10).allowed, timeout=1, what="a token after 0.1 s")
    client.close()


def test_a_process_takes_a_hundredth_of_a_seconds_tokens_at_once(settings: Settings) -> None:
    client = redis.Redis.from_url(settings.redis_url)
    limiter = ApiRateLimiter(client, settings.wapipe_queue_namespace, 500.0)
    key = uuid.uuid4()
    bucket = f"{settings.wapipe_queue_namespace}:ratelimit:{key.hex}"
    assert limiter.check(key, 500).allowed  # takes 5 tokens from Redis, spends one
    client.delete(bucket)
    assert all(limiter.check(key, 500).allowed for _ in range(4))
    assert not client.exists(bucket)  # the four were this process's own: Redis untouched
    assert limiter.check(key, 500).allowed
    assert client.exists(bucket)  # the sixth went to Redis again
    client.close()


def test_processes_taking_tokens_ahead_never_let_more_through_than_the_bucket(
    settings: Settings,
) -> None:
    """Two API processes share a key's bucket: together they pass what it holds (twice the
    rate, plus its refill meanwhile), and lose at most the tokens each holds unspent."""
    client = redis.Redis.from_url(settings.redis_url)
    processes = [ApiRateLimiter(client, settings.wapipe_queue_namespace, 500.0) for _ in "ab"]
    key, rate = uuid.uuid4(), 500
    started = time.monotonic()
    allowed = sum(processes[i % 2].check(key, rate).allowed for i in range(3000))
    elapsed = time.monotonic() - started
    burst, held_per_process = 2 * rate, rate // 100
    assert allowed <= burst + rate * elapsed + 1
    assert allowed >= burst - 2 * held_per_process
    client.close()
