"""What watching wapipe costs: the share of the API's and the workers' CPU spent in logging,
metrics and tracing while a lifecycle runs flat out (issue 13: less than 5 %).

    .venv/bin/python -m bench.overhead [--messages 3000]

Starts wapipe as bench.compare does (its defaults, a fresh database, the fake provider), and
while N messages go from the first POST to `read`, py-spy samples every process of the API's
and the worker's trees. A sample is observability's when the innermost frame that is either
instrumentation (`logging`, `prometheus_client`, `opentelemetry`, wapipe's own observability
code) or the code it instruments (wapipe, its frameworks and drivers) is instrumentation.
py-spy samples only threads that hold the GIL (`--gil`): CPU spent in Python, which is what
the pipeline runs out of on this machine and all the instrumentation spends; so that share
bounds what the instrumentation costs the throughput. Needs wrk and py-spy
(`pip install -e '.[bench]'`).
"""

import argparse
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.lifecycle import run_lifecycle, warm_up
from bench.load import PhoneBlocks, Shape, require_wrk
from bench.stacks import StackOptions, wapipe_stack
from tests.e2e.processes import running, wait_http_ok

# Where a frame's file must lie for its sample to count as observability's.
OBSERVABILITY = (
    "/logging/",
    "/prometheus_client/",
    "/opentelemetry/",
    "pipeline/observability/",
    "pipeline/api/observe.py",
    "workers/job_context.py",
    "workers/metrics_server.py",
)
# The code that is instrumented: wapipe's own and the frameworks it runs in.
INSTRUMENTED = (
    "pipeline/",
    "webhooks/",
    "workers/",
    "db/",
    "/gunicorn/",
    "/dramatiq/",
    "/flask/",
    "/werkzeug/",
    "/sqlalchemy/",
    "/psycopg/",
    "/redis/",
    "/urllib3/",
)
# py-spy's samples of threads that wait (idle pollers, the GIL) say nothing about cost.
_IDLE = ("wait (threading.py", "select (selectors.py", "poll (selectors.py", "accept (socket")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--status-delay-ms", type=int, default=50)
    opts = parser.parse_args()
    require_wrk()
    logs = Path(tempfile.mkdtemp(prefix="wapipe-overhead-"))
    stack = wapipe_stack(StackOptions(opts.status_delay_ms, Path("."), "", logs))
    shape, blocks = Shape(), PhoneBlocks()
    with running(stack.api, stack.fake, stack.worker):
        wait_http_ok(f"{stack.fake_url}/_fake/healthz", stack.fake)
        warm_up(stack)
        recorders = {
            name: _record(process.popen.pid, logs / f"{name}.raw")
            for name, process in (("api", stack.api), ("worker", stack.worker))
            if process.popen is not None
        }
        try:
            result = run_lifecycle(stack, shape, opts.messages, blocks.take(), 60.0)
        finally:
            for recorder in recorders.values():
                recorder.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                recorder.wait(timeout=60)
    stack.forget_queue()
    print(f"{result.messages} messages read in {result.seconds:.1f}s "
          f"({result.messages / result.seconds:.0f}/s); py-spy samples in {logs}")  # fmt: skip
    worst = 0.0
    for name in recorders:
        busy, observed = _shares(logs / f"{name}.raw")
        share = observed / busy if busy else 0.0
        worst = max(worst, share)
        print(f"{name:>6}: {observed} of {busy} busy samples in logging, metrics or tracing "
              f"= {share:.1%}")  # fmt: skip
    print(f"observability's share of the busiest CPU: {worst:.1%} (goal < 5 %)")
    return 0


def _record(pid: int, out: Path) -> subprocess.Popen[bytes]:
    argv = ["py-spy", "record", "--pid", str(pid), "--subprocesses", "--format", "raw",
            "--rate", "200", "--gil", "--nonblocking", "--output", str(out)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _shares(raw: Path) -> tuple[int, int]:
    """(busy samples, of which observability's) from py-spy's raw output. A sample belongs to
    the innermost frame that is either instrumentation or the code it instruments: a
    `json.dumps` called by the log formatter is the log's; a query sent under the
    request-id middleware (it wraps every request) is the request's."""
    counts: Counter[str] = Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit() or any(idle in stack for idle in _IDLE):
            continue
        counts[_owner(stack.split(";"))] += int(number)
    return counts["observed"] + counts["other"], counts["observed"]


def _owner(frames: list[str]) -> str:
    for frame in reversed(frames):
        if any(part in frame for part in OBSERVABILITY):
            return "observed"
        if any(part in frame for part in INSTRUMENTED):
            return "other"
    return "other"


if __name__ == "__main__":
    sys.exit(main())
