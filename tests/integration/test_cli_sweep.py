"""`wapipe sweep` through click's runner: once, on a schedule until a signal, and its output."""

import json
import os
import re
import signal
import threading

from flask.testing import FlaskClient

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
