"""The benchmark's figures, the ratios derived from them and the goals of issue 8."""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.lifecycle import Lifecycle
from bench.load import WrkResult

if TYPE_CHECKING:
    from bench.events import EventsFigures

MB = 1024 * 1024


@dataclass(frozen=True)
class Goal:
    label: str
    text: str
    met: Callable[[float], bool]


GOALS = {
    "lifecycle": Goal("whole lifecycle, wapipe / naive", ">= 1.5", lambda v: v >= 1.5),
    "intake_vs_pgbench": Goal("intake, wapipe / pgbench", ">= 0.35", lambda v: v >= 0.35),
    "intake_p99_at_80": Goal("intake p99 at 80% load, ms", "< 50", lambda v: v < 50),
    "webhook_p95": Goal("webhook answer p95, ms", "< 50", lambda v: v < 50),
    "scaling": Goal("10x messages, time ratio", "<= 10.5", lambda v: v <= 10.5),
    "events": Goal("lifecycle with events / without", ">= 0.75", lambda v: v >= 0.75),
}


@dataclass
class PipelineFigures:
    lifecycle: Lifecycle
    intake: WrkResult
    intake_at_80: WrkResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lifecycle": self.lifecycle.to_dict(),
            "intake": self.intake.to_dict(),
            "intake_at_80": self.intake_at_80.to_dict() if self.intake_at_80 else None,
        }


@dataclass
class Scaling:
    """wapipe's N-message run, a 10 N run, and another N run after it (fresh databases):
    the big run is measured against the mean of the two small ones around it, so a machine
    that slows down or speeds up during the runs does not pass for cost that grows."""

    small: Lifecycle
    big: Lifecycle
    small_after: Lifecycle

    @property
    def small_seconds(self) -> float:
        return (self.small.seconds + self.small_after.seconds) / 2

    @property
    def time_ratio(self) -> float:
        return self.big.seconds / self.small_seconds

    def cpu_per_message_ratio(self, user: str) -> float:
        """CPU per message of ``user`` (a key of cpu_seconds), big run over small runs."""

        def per_message(*runs: Lifecycle) -> float:
            return sum(r.cpu_seconds.get(user, 0.0) for r in runs) / sum(r.messages for r in runs)

        return per_message(self.big) / per_message(self.small, self.small_after)

    def cpu_per_message_ratios(self) -> dict[str, float]:
        """cpu_per_message_ratio of each process group; the fake's is the machine's drift."""
        return {u: self.cpu_per_message_ratio(u) for u in ("api", "worker", "services", "fake")}

    def worker_rss_mb(self) -> dict[str, float]:
        return {f"{p}%": round(self.big.worker_rss_at(p / 100) / MB, 1) for p in (10, 50, 100)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "small": {"messages": self.small.messages, "seconds": round(self.small.seconds, 2)},
            "small_after": {
                "messages": self.small_after.messages,
                "seconds": round(self.small_after.seconds, 2),
            },
            "cpu_per_message_ratio": {
                user: round(ratio, 3) for user, ratio in self.cpu_per_message_ratios().items()
            },
            "big": self.big.to_dict(),
            "time_ratio": round(self.time_ratio, 2),
            "worker_rss_mb": self.worker_rss_mb(),
        }


@dataclass
class Figures:
    settings: dict[str, Any]
    machine: dict[str, Any]
    pgbench_tps: float
    pipelines: dict[str, PipelineFigures] = field(default_factory=dict)
    scaling: Scaling | None = None
    events: "EventsFigures | None" = None
    # (naive, wapipe) msg/s of each lifecycle round, the first of them the pipelines' own.
    rounds: list[tuple[float, float]] = field(default_factory=list)

    def lifecycle_ratios(self) -> list[float]:
        """wapipe / naive of each round, in the order run."""
        return [wapipe / naive for naive, wapipe in self.rounds]

    def ratios(self) -> dict[str, float]:
        naive, wapipe = self.pipelines["naive"], self.pipelines["wapipe"]
        ratios = {
            # The median of the rounds: on a shared machine one pair can be far off.
            "lifecycle": statistics.median(self.lifecycle_ratios())
            if self.rounds
            else wapipe.lifecycle.rate / naive.lifecycle.rate,
            "intake_vs_pgbench": wapipe.intake.rate / self.pgbench_tps,
            "naive_intake_vs_pgbench": naive.intake.rate / self.pgbench_tps,
            "intake": wapipe.intake.rate / naive.intake.rate,
        }
        p95 = wapipe.lifecycle.webhook_latency.get("p95_ms")
        if p95 is not None:
            ratios["webhook_p95"] = p95
        if wapipe.intake_at_80 is not None:
            ratios["intake_p99_at_80"] = wapipe.intake_at_80.p99_ms
        if self.scaling is not None:
            ratios["scaling"] = self.scaling.time_ratio
        if self.events is not None:
            ratios["events"] = self.events.ratio
        return ratios

    def goals(self) -> dict[str, dict[str, Any]]:
        ratios = self.ratios()
        return {
            key: {"value": round(ratios[key], 3), "goal": goal.text, "met": goal.met(ratios[key])}
            for key, goal in GOALS.items()
            if key in ratios
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "machine": self.machine,
            "pgbench_tps": round(self.pgbench_tps, 1),
            "pipelines": {name: p.to_dict() for name, p in self.pipelines.items()},
            "ratios": {k: round(v, 3) for k, v in self.ratios().items()},
            "lifecycle_rounds": [
                {"naive": round(n, 1), "wapipe": round(w, 1), "ratio": round(w / n, 3)}
                for n, w in self.rounds
            ],
            "goals": self.goals(),
            "scaling": self.scaling.to_dict() if self.scaling else None,
            "events": self.events.to_dict() if self.events else None,
        }
