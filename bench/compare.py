"""wapipe against the naive pipeline, one after the other, on this machine (issue 8's goals).

    .venv/bin/python -m bench.compare [--messages 3000] [--scaling]    (or: make bench)

For each pipeline (naive first), with a fresh database and a fresh fake provider posting one
status per webhook: its API and workers with their own defaults, N messages posted by wrk
(16 connections) and timed from the first POST to all `read`, while the fake times every
webhook answer and the process trees' memory is sampled; then the API alone under wrk for the
intake rate, and (wapipe) at 80 % of that rate for its p99. pgbench runs the same intake
transaction on PostgreSQL alone. Prints a table and writes a JSON file and a PNG plot.
Needs wrk and pgbench; `make bench` installs wrk and the plotting library.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from bench import events, plot, report
from bench.events import EventsFigures
from bench.figures import Figures, PipelineFigures, Scaling
from bench.lifecycle import Lifecycle, run_lifecycle, warm_up
from bench.load import PhoneBlocks, Run, Shape, WrkResult, require_wrk, run_wrk
from bench.probes import BenchError, apply_sql_file, pgbench_tps, recreate_database
from bench.stacks import REPO, Stack, StackOptions, naive_stack, wapipe_stack
from tests.e2e.processes import running, wait_http_ok

PGBENCH_DB = "wapipe_bench_pgbench"
RESULTS = REPO / "bench" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000, help="messages per lifecycle run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--intake-seconds", type=int, default=10, help="each intake run")
    parser.add_argument("--status-delay-ms", type=int, default=50, help="the fake's, for both")
    parser.add_argument(
        "--naive-dir", type=Path, default=REPO.parent / "shared" / "bench" / "naive"
    )
    parser.add_argument(
        "--naive-redis-url",
        default="redis://127.0.0.1:6379/14",
        help="a Redis database for the naive pipeline's queue: its dramatiq:* keys are cleared",
    )
    parser.add_argument("--stall-seconds", type=float, default=60, help="give up after no read")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="lifecycle pairs (naive, then wapipe) in all; the lifecycle ratio is their median",
    )
    parser.add_argument("--scaling", action="store_true", help="also wapipe with 10x messages")
    parser.add_argument(
        "--events",
        action="store_true",
        help="also wapipe's lifecycle with one webhook endpoint subscribed to every event",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--plot", type=Path, default=RESULTS / "performance.png")
    return parser.parse_args(argv)


def main() -> int:
    opts = parse_args()
    # A SIGTERM (timeout, a CI runner) must stop the pipelines too, as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        figures = measure(opts)
    except (BenchError, AssertionError) as exc:  # AssertionError: the shared waits timed out
        print(f"bench.compare: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench.compare: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    print(report.table(figures))
    report.write_json(figures, opts.out)
    plot.plot(figures, opts.plot)
    print(f"figures: {opts.out}, plot: {opts.plot}")
    return 0


def measure(opts: argparse.Namespace) -> Figures:
    require_wrk()
    if shutil.which("pgbench") is None:
        raise BenchError("pgbench is not installed (it comes with PostgreSQL's client tools)")
    if not (opts.naive_dir / "naive.py").is_file():
        raise BenchError(f"no naive.py in {opts.naive_dir} (see --naive-dir)")
    logs = Path(tempfile.mkdtemp(prefix="wapipe-compare-"))
    _progress(f"logs in {logs}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    figures = Figures(settings=_settings(opts), machine=_machine(), pgbench_tps=_pgbench(opts))
    shape, blocks = Shape(opts.connections, opts.threads), PhoneBlocks()
    stack_opts = StackOptions(opts.status_delay_ms, opts.naive_dir, opts.naive_redis_url, logs)
    for build in (naive_stack, wapipe_stack):
        stack = build(stack_opts)
        figures.pipelines[stack.name] = measure_pipeline(stack, opts, shape, blocks)
    first = (figures.pipelines["naive"].lifecycle.rate, figures.pipelines["wapipe"].lifecycle.rate)
    figures.rounds = [first, *(measure_round(stack_opts, opts, shape)
                               for _ in range(opts.rounds - 1))]  # fmt: skip
    if opts.scaling:
        figures.scaling = measure_scaling(stack_opts, opts, shape, blocks, figures)
    if opts.events:
        figures.events = measure_events(stack_opts, opts, shape, blocks, figures)
    figures.machine["load_after"] = os.getloadavg()
    return figures


def measure_pipeline(
    stack: Stack, opts: argparse.Namespace, shape: Shape, blocks: PhoneBlocks
) -> PipelineFigures:
    logs = stack.api.log_path.parent
    try:
        with running(stack.api):
            lifecycle = _lifecycle(stack, opts, shape, blocks, opts.messages)
            _progress(f"{stack.name}: intake alone for {opts.intake_seconds}s")
            intake = run_wrk(stack.target, shape, Run(opts.intake_seconds), blocks.take(),
                             logs / f"{stack.name}-intake-wrk.log")  # fmt: skip
            at_80 = (
                _intake_at_80(stack, opts, shape, blocks, intake)
                if stack.name == "wapipe"
                else None
            )
    finally:
        stack.forget_queue()  # the intake runs left jobs nobody will take
    return PipelineFigures(lifecycle, intake, at_80)


def measure_round(
    stack_opts: StackOptions, opts: argparse.Namespace, shape: Shape
) -> tuple[float, float]:
    """One more lifecycle of each, naive first, on fresh databases: (naive, wapipe) msg/s.
    A fresh database has no contacts yet, so each round may post to the same phones."""
    rates = []
    for build in (naive_stack, wapipe_stack):
        stack = build(stack_opts)
        try:
            with running(stack.api):
                rates.append(_lifecycle(stack, opts, shape, PhoneBlocks(), opts.messages).rate)
        finally:
            stack.forget_queue()
    naive, wapipe = rates
    return naive, wapipe


def _lifecycle(
    stack: Stack, opts: argparse.Namespace, shape: Shape, blocks: PhoneBlocks, messages: int
) -> Lifecycle:
    """Fake and workers run for this part only: the intake runs that follow use the API alone."""
    with running(stack.fake, stack.worker):
        wait_http_ok(f"{stack.fake_url}/_fake/healthz", stack.fake)
        warm_up(stack)
        _progress(f"{stack.name}: lifecycle of {messages} messages")
        result = run_lifecycle(stack, shape, messages, blocks.take(), opts.stall_seconds)
        _progress(f"{stack.name}: {result.messages} read after {result.seconds:.1f}s")
        return result


def _intake_at_80(
    stack: Stack, opts: argparse.Namespace, shape: Shape, blocks: PhoneBlocks, max_: WrkResult
) -> WrkResult:
    rate = 0.8 * max_.rate
    _progress(f"{stack.name}: intake at {rate:.0f} req/s for {opts.intake_seconds}s")
    log = stack.api.log_path.parent / f"{stack.name}-intake-80-wrk.log"
    return run_wrk(stack.target, shape, Run(opts.intake_seconds, rate=rate), blocks.take(), log)


def measure_scaling(
    stack_opts: StackOptions,
    opts: argparse.Namespace,
    shape: Shape,
    blocks: PhoneBlocks,
    figures: Figures,
) -> Scaling:
    """wapipe's N-message run above and a fresh one after, against a fresh 10 N run."""
    runs = []
    for messages in (10 * opts.messages, opts.messages):
        stack = wapipe_stack(stack_opts)
        try:
            with running(stack.api):
                runs.append(_lifecycle(stack, opts, shape, blocks, messages))
        finally:
            stack.forget_queue()
    big, small_after = runs
    return Scaling(small=figures.pipelines["wapipe"].lifecycle, big=big, small_after=small_after)


def measure_events(
    stack_opts: StackOptions,
    opts: argparse.Namespace,
    shape: Shape,
    blocks: PhoneBlocks,
    figures: Figures,
) -> EventsFigures:
    """wapipe's N-message run above against a fresh one with every event delivered."""
    stack = wapipe_stack(stack_opts)
    try:
        with running(stack.api, stack.fake, stack.worker), events.receiver() as server:
            wait_http_ok(f"{stack.fake_url}/_fake/healthz", stack.fake)
            stack.wait_api()
            events.subscribe(stack, server.url)
            warm_up(stack)
            _progress(f"wapipe+events: lifecycle of {opts.messages} messages")
            started = time.monotonic()
            with_events = run_lifecycle(
                stack, shape, opts.messages, blocks.take(), opts.stall_seconds
            )
            _progress(f"wapipe+events: {with_events.messages} read after "
                      f"{with_events.seconds:.1f}s")  # fmt: skip
            # Every status event the outbox holds (about three per message: a send whose
            # webhook overtook the worker's record has no `sent`): the dispatchers run in the
            # workers, so they stay up until all arrived.
            got = events.wait_drained(server, events.written(stack.dsn), opts.stall_seconds)
            drained = server.last_new_at - started
            _progress(f"wapipe+events: {got} events received, the last {drained:.1f}s in")
            posts = server.posts
    finally:
        stack.forget_queue()
    without = figures.pipelines["wapipe"].lifecycle
    return EventsFigures(without, with_events, got, posts, drained)


def _pgbench(opts: argparse.Namespace) -> float:
    recreate_database(PGBENCH_DB)
    apply_sql_file(f"dbname={PGBENCH_DB}", opts.naive_dir / "schema.sql")
    _progress(f"pgbench: the intake transaction for {opts.intake_seconds}s")
    tps = pgbench_tps(PGBENCH_DB, opts.intake_seconds)
    _progress(f"pgbench: {tps:.0f} tx/s")
    return tps


def _settings(opts: argparse.Namespace) -> dict[str, object]:
    return {
        "messages": opts.messages - opts.messages % opts.threads,
        "connections": opts.connections,
        "wrk_threads": opts.threads,
        "intake_seconds": opts.intake_seconds,
        "status_delay_ms": opts.status_delay_ms,
        "webhooks": "one status per POST",
        "wapipe": "wapipe api, wapipe worker (defaults)",
        "naive": "gunicorn -w 2 -k gthread --threads 8; dramatiq -p 2 -t 8",
    }


def _machine() -> dict[str, object]:
    return {
        "cores": os.cpu_count(),
        "load_before": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d"),
        "code": _code_version(),
    }


def _code_version() -> str:
    """The commit measured; "-dirty" when uncommitted changes were measured with it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    argv = [git, "describe", "--always", "--dirty"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
