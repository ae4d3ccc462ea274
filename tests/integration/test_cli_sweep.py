"""`wapipe sweep` through click's runner: once, on a schedule until a signal, and its output."""

import json
import os
import re
import signal
import threading
import uuid

from flask.testing import FlaskClient
from sqlalchemy import text

from pipeline.bootstrap import Container
from tests.cli_support import Wapipe
from tests.conftest import Tenant
from tests.support import send_message, wait_for

LINE = re.compile(r"^\d\d:\d\d:\d\dZ re-enqueued \d+ message\(s\), \d+ webhook\(s\)$")


def test_sweep_once_re_enqueues_a_message_whose_job_was_lost(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    message_id = send_message(client, tenant)
    container.broker.flush_all()  # what a Redis restart without persistence does
    [report] = wapipe("sweep", "--once", "--grace", "0", "--json").output.splitlines()
    assert message_id in json.loads(report)["messages"]
    [line] = wapipe("sweep", "--once", "--grace", "0").output.splitlines()
    assert LINE.match(line), line


def test_sweep_once_right_after_a_wipe_needs_no_grace_and_never_doubles_a_queued_job(
    wapipe: Wapipe, client: FlaskClient, tenant: Tenant, container: Container
) -> None:
    container.broker.flush_all()
    lost = send_message(client, tenant)
    container.broker.flush_all()  # Redis restarted empty: this message's job is gone
    queued = send_message(client, tenant)  # accepted after the restart: its job is queued
    with container.db.transaction() as session:  # both a little older than a fresh commit
        session.execute(
            text("UPDATE messages SET enqueued_at = now() - interval '10 seconds' "
                 "WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(lost), uuid.UUID(queued)]},
        )  # fmt: skip
    # The default grace (60 s) has not passed, yet the lost job is found at once.
    [report] = wapipe("sweep", "--once", "--json").output.splitlines()
    assert lost in json.loads(report)["messages"]
    assert queued not in json.loads(report)["messages"]
    [again] = wapipe("sweep", "--once", "--grace", "0", "--json").output.splitlines()
    assert {lost, queued}.isdisjoint(json.loads(again)["messages"])  # both queued: not doubled
    container.broker.flush_all()


def test_sweep_needs_exactly_one_of_once_or_every(wapipe: Wapipe) -> None:
    assert "exactly one of --once or --every" in wapipe("sweep", code=2).output
    wapipe("sweep", "--once", "--every", "1s", code=2)
    wapipe("sweep", "--every", "soon", code=2)


def test_sweep_every_runs_until_interrupted_then_gives_the_signal_back(wapipe: Wapipe) -> None:
    original = signal.getsignal(signal.SIGINT)

    def interrupt_once_installed() -> None:
        wait_for(lambda: signal.getsignal(signal.SIGINT) is not original, what="the handler")
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_once_installed)
    interrupter.start()
    result = wapipe("sweep", "--every", "20ms", "--grace", "1h")
    interrupter.join()
    lines = result.output.splitlines()
    assert lines
    assert all(LINE.match(line) for line in lines)
    assert signal.getsignal(signal.SIGINT) is original
