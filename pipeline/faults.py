"""Fault injection for crash tests: a process kills itself at a named point.

Off unless WAPIPE_FAULTS names points, e.g. `api_after_commit:0.2,worker_after_send:0.05`
(point:probability). The points are where a real crash is most dangerous: between the
intake's commit and its enqueue, after a worker's claim, and after the provider accepted a
send but before the worker recorded it.
"""

import os
import random
import signal

POINTS = frozenset({"api_after_commit", "worker_after_claim", "worker_after_send"})

_armed: dict[str, float] = {}


def configure(spec: str) -> None:
    """Arm the points in ``spec``; an unknown point is an error, not a silent no-op."""
    _armed.clear()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        point, _, probability = part.partition(":")
        if point not in POINTS:
            raise ValueError(f"unknown fault point {point!r}; known: {', '.join(sorted(POINTS))}")
        _armed[point] = float(probability or 1.0)


def crash_point(point: str) -> None:
    """SIGKILL this process (no cleanup, like the OOM killer) if ``point`` is armed and due."""
    probability = _armed.get(point)
    if probability and random.random() < probability:
        os.kill(os.getpid(), signal.SIGKILL)
