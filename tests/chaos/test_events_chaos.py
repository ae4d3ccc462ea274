"""Events survive what messages survive: a worker SIGKILLed mid-POST and a Redis wipe lose
no event; every committed status change still reaches the endpoint (same `webhook-id` if
it is sent again)."""

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from flask import Flask, request
from sqlalchemy import text

from db.session import Database, make_engine
from tests.chaos.conftest import VERDICTS
from tests.chaos.harness import chaos_stack, send_load, verify
from tests.chaos.servers import PrivateRedis
from tests.support import serve_app, wait_for

pytestmark = pytest.mark.chaos


def _slow_receiver(seen: set[str], lock: threading.Lock) -> Flask:
    app = Flask("slow-receiver")

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        time.sleep(0.05)  # deliveries are in flight when the worker dies
        with lock:
            seen.add(request.headers["webhook-id"])
        return "", 204

    return app


def test_a_killed_worker_and_a_redis_wipe_lose_no_event(
    tmp_path: Path, database_url: str, private_redis: PrivateRedis
) -> None:
    seen: set[str] = set()
    lock = threading.Lock()
    env: dict[str, str | None] = {"WAPIPE_EVENTS_ALLOW_PRIVATE_URLS": "true"}
    with (
        serve_app(_slow_receiver(seen, lock)) as receiver_url,
        chaos_stack(tmp_path, database_url, private_redis.url, env=env) as stack,
    ):
        auth = {"Authorization": f"Bearer {stack.api_key}"}
        created = httpx.post(
            f"{stack.api_url}/v1/webhook-endpoints",
            json={"url": f"{receiver_url}/hook", "events": ["message.status"]},
            headers=auth,
        )
        assert created.status_code == 201, created.text
        loads = []
        loader = threading.Thread(target=lambda: loads.append(send_load(stack, 40, 2)))
        loader.start()
        wait_for(lambda: len(seen) >= 20, timeout=60, what="events arriving")
        stack.worker.signal(signal.SIGKILL)  # supervised: it restarts
        private_redis.restart_empty()
        broke_at = time.monotonic()
        loader.join()
        verdict = verify(stack, loads[0], broke_at, timeout=120)
        db = Database(make_engine(database_url, pool_size=1))
        try:

            def outbox() -> set[str]:
                with db.transaction() as session:
                    rows = session.execute(
                        text("SELECT id FROM events WHERE company_id = :c AND type = :t"),
                        {"c": stack.company_id, "t": "message.status"},
                    ).scalars()
                    return {f"evt_{row}" for row in rows}

            def all_arrived() -> bool:
                with lock:
                    return outbox() <= seen

            # A delivery the kill cut off comes due again when its 30 s lease ends.
            wait_for(all_arrived, timeout=150, interval=0.5, what="every event at the receiver")
            expected = outbox()
        finally:
            db.dispose()
    took = time.monotonic() - broke_at
    VERDICTS.append(
        f"events, worker killed + redis wiped: {len(expected)} events, all delivered "
        f"{took:.0f}s after the break"
    )
    assert verdict.lost == 0
    assert len(expected) >= len(loads[0].accepted)  # at least each message's `sent`
    assert expected <= seen
