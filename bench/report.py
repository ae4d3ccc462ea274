"""The benchmark's output: a plain-text table, a JSON file of every figure, a PNG plot."""

import json
from pathlib import Path

from bench.figures import GOALS, MB, Figures, PipelineFigures
from bench.lifecycle import Lifecycle
from bench.load import WrkResult

Row = tuple[str, str, str, str, str]
COLUMNS: Row = ("measure", "naive", "wapipe", "w/n", "goal")
WIDTHS = (38, 15, 15, 6, 14)
# Cores used by processes other than the benchmark's and the services' beyond which we warn.
CONTENDED = 0.25


def table(figures: Figures) -> str:
    """The comparison as fixed-width text, one measure a line."""
    naive, wapipe = figures.pipelines["naive"], figures.pipelines["wapipe"]
    s = figures.settings
    lines = [
        f"wapipe vs the naive pipeline: {s['messages']} messages, {s['connections']} "
        f"connections, {figures.machine['cores']} cores, load before "
        f"{figures.machine['load_before'][0]:.2f}, code {figures.machine['code']}",
        _line(COLUMNS),
        *(_line(row) for row in _rows(figures, naive, wapipe)),
    ]
    if len(figures.rounds) > 1:
        each = ", ".join(f"{r:.2f}" for r in figures.lifecycle_ratios())
        lines.append(f"lifecycle ratio of each round: {each} (the table's is their median)")
    if figures.scaling is not None:
        lines.extend(_scaling_lines(figures))
    if figures.events is not None:
        lines.extend(_events_lines(figures))
    busy = [n for n, p in figures.pipelines.items() if p.lifecycle.cores("others") > CONTENDED]
    if busy:
        lines.append(f"WARNING: other processes kept more than {CONTENDED} of a core busy during "
                     f"the lifecycle of {' and '.join(busy)}: the machine was shared, "
                     "so the comparison is less reliable")  # fmt: skip
    for name, pipeline in figures.pipelines.items():
        runs = [pipeline.lifecycle.posting, pipeline.intake, pipeline.intake_at_80]
        errors = sum(run.error_count for run in runs if run is not None)
        if errors:
            lines.append(f"WARNING: {name} answered {errors} requests with an error or not at "
                         "all (not 202): see its *-wrk.log in the logs folder")  # fmt: skip
    return "\n".join(lines)


def _rows(figures: Figures, naive: PipelineFigures, wapipe: PipelineFigures) -> list[Row]:
    n, w = naive.lifecycle, wapipe.lifecycle
    goals = figures.goals()
    return [
        ("whole lifecycle, msg/s", f"{n.rate:.1f}", f"{w.rate:.1f}",
         f"{figures.ratios()['lifecycle']:.2f}", _goal(goals, "lifecycle")),
        ("  first POST to all read, s", f"{n.seconds:.1f}", f"{w.seconds:.1f}", "", ""),
        ("  all posted after, s", f"{n.posting.seconds:.1f}", f"{w.posting.seconds:.1f}", "", ""),
        ("intake alone, req/s", f"{naive.intake.rate:.0f}", f"{wapipe.intake.rate:.0f}",
         _ratio(wapipe.intake.rate, naive.intake.rate), ""),
        ("  p50 / p99, ms", _p50_p99(naive.intake), _p50_p99(wapipe.intake), "", ""),
        (f"  / pgbench ({figures.pgbench_tps:.0f} tx/s)",
         f"{naive.intake.rate / figures.pgbench_tps:.2f}",
         f"{wapipe.intake.rate / figures.pgbench_tps:.2f}", "", _goal(goals, "intake_vs_pgbench")),
        ("  at 80% of max: req/s, p99 ms", "", _at_80(wapipe.intake_at_80), "",
         _goal(goals, "intake_p99_at_80")),
        ("webhook answers p50/p95/p99, ms", _latency(n.webhook_latency),
         _latency(w.webhook_latency), "", _goal(goals, "webhook_p95")),
        ("API RSS peak / final, MB", _rss(n.rss("api")), _rss(w.rss("api")), "", ""),
        ("worker RSS peak / final, MB", _rss(n.rss("worker")), _rss(w.rss("worker")), "", ""),
        ("CPU s per 1000 msgs: api/worker/fake", _cpu(n.cpu_seconds, n.messages),
         _cpu(w.cpu_seconds, w.messages), "", ""),
        ("CPU cores: PostgreSQL+Redis, others", _cores(n), _cores(w), "", ""),
        ("errors: lifecycle, intake", _errors(naive), _errors(wapipe), "", ""),
    ]  # fmt: skip


def _scaling_lines(figures: Figures) -> list[str]:
    assert figures.scaling is not None
    scaling, goals = figures.scaling, figures.goals()
    rss = scaling.worker_rss_mb()
    cpu = scaling.cpu_per_message_ratios()
    return [
        f"scaling (wapipe): {scaling.small.messages} messages in {scaling.small.seconds:.1f}s "
        f"and, after, {scaling.small_after.seconds:.1f}s; {scaling.big.messages} in "
        f"{scaling.big.seconds:.1f}s: ratio {scaling.time_ratio:.2f} "
        f"(goal {GOALS['scaling'].text}: {_met(goals['scaling']['met'])})",
        "  CPU per message, big run over small runs: "
        + ", ".join(f"{user} {ratio:.2f}" for user, ratio in cpu.items())
        + " (the fake's work per message does not depend on the run: its figure is the machine)",
        "  worker RSS at 10% / 50% / 100% of the big run, MB: "
        + " / ".join(f"{v:.0f}" for v in rss.values()),
    ]


def _events_lines(figures: Figures) -> list[str]:
    assert figures.events is not None
    e, goals = figures.events, figures.goals()
    return [
        f"events (wapipe, one endpoint subscribed to everything): {e.with_events.rate:.1f} "
        f"msg/s against {e.without.rate:.1f} without: ratio {e.ratio:.2f} "
        f"(goal {GOALS['events'].text}: {_met(goals['events']['met'])})",
        f"  {e.events} events received ({e.posts} POSTs), the last {e.drained_s:.1f}s after "
        f"the first message (all read after {e.with_events.seconds:.1f}s)",
    ]


def _line(row: Row) -> str:
    first, *rest = row
    return first.ljust(WIDTHS[0]) + "".join(
        cell.rjust(width) for cell, width in zip(rest, WIDTHS[1:], strict=True)
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "-"


def _goal(goals: dict[str, dict[str, object]], key: str) -> str:
    if key not in goals:
        return ""
    return f"{GOALS[key].text} {_met(bool(goals[key]['met']))}"


def _met(met: bool) -> str:
    return "met" if met else "MISS"


def _p50_p99(result: WrkResult) -> str:
    return f"{result.p50_ms:.0f} / {result.p99_ms:.0f}"


def _at_80(result: WrkResult | None) -> str:
    return f"{result.rate:.0f}, {result.p99_ms:.0f}" if result else "-"


def _latency(latency: dict[str, float | None]) -> str:
    values = [latency.get(key) for key in ("p50_ms", "p95_ms", "p99_ms")]
    return "/".join(f"{v:.0f}" if v is not None else "-" for v in values)


def _rss(rss: dict[str, int]) -> str:
    return f"{rss['peak'] / MB:.0f} / {rss['final'] / MB:.0f}"


def _cpu(cpu: dict[str, float], messages: int) -> str:
    per = [cpu.get(k, 0.0) * 1000 / messages for k in ("api", "worker", "fake")]
    return "/".join(f"{v:.1f}" for v in per)


def _cores(lifecycle: Lifecycle) -> str:
    return f"{lifecycle.cores('services'):.2f}, {lifecycle.cores('others'):.2f}"


def _errors(p: PipelineFigures) -> str:
    return f"{p.lifecycle.posting.error_count}, {p.intake.error_count}"


def write_json(figures: Figures, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures.to_dict(), indent=2) + "\n")
