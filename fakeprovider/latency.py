"""How long the receiver took to answer each webhook POST: the benchmark's view of goal 3."""

from __future__ import annotations

import math
import random
import threading
from typing import Any

# Enough for exact percentiles over a 3,000-message run (9,000 POSTs); beyond that a uniform
# sample keeps memory fixed however long the fake runs, and p99 stays within a few percent.
RESERVOIR_SIZE = 20_000


class LatencyRecorder:
    """Durations in ms, kept in a fixed-size uniform reservoir (Vitter's algorithm R)."""

    def __init__(self, size: int = RESERVOIR_SIZE, seed: int | None = None) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._samples: list[float] = []
        self._count = 0
        self._max = 0.0

    def record(self, ms: float) -> None:
        with self._lock:
            self._count += 1
            self._max = max(self._max, ms)
            if len(self._samples) < self._size:
                self._samples.append(ms)
                return
            slot = self._random.randrange(self._count)
            if slot < self._size:
                self._samples[slot] = ms

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self._count = 0
            self._max = 0.0

    def summary(self) -> dict[str, Any]:
        """``count`` and p50/p95/p99/max in ms (null before the first POST)."""
        with self._lock:
            ordered = sorted(self._samples)
            count, largest = self._count, self._max
        return {
            "count": count,
            "p50_ms": _percentile(ordered, 50),
            "p95_ms": _percentile(ordered, 95),
            "p99_ms": _percentile(ordered, 99),
            "max_ms": round(largest, 3) if count else None,
        }


def _percentile(ordered: list[float], pct: float) -> float | None:
    # Nearest rank: a value that was really observed, never an interpolation between two.
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 3)
