"""Who used the CPU during a timed run: the pipeline, the shared services, or someone else.

On a 2-core machine shared with other work, a pipeline's figure says little unless we know
how much of the machine it had: CPU used by processes that are neither the benchmark's nor
PostgreSQL's or Redis's is reported as contention.
"""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
SERVICES = ("postgres", "redis-server")


@dataclass(frozen=True)
class CpuSnapshot:
    busy: float  # the whole machine's non-idle CPU seconds since boot
    processes: dict[int, tuple[str, float]]  # pid -> (command name, CPU seconds)
    own: float  # this process and its waited-for children (wrk)


def snapshot() -> CpuSnapshot:
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime
    return CpuSnapshot(busy=_machine_busy(), processes=_processes(), own=own)


def split(before: CpuSnapshot, after: CpuSnapshot, trees: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds between two snapshots: each named process tree, the services (all of
    PostgreSQL and Redis, whoever they served), the benchmark itself, and others (the rest)."""

    def used(pid: int) -> float:
        return after.processes[pid][1] - before.processes.get(pid, ("", 0.0))[1]

    seconds = {
        name: sum(used(pid) for pid in pids if pid in after.processes)
        for name, pids in trees.items()
    }
    counted = {pid for pids in trees.values() for pid in pids}
    seconds["services"] = sum(
        used(pid)
        for pid, (name, _) in after.processes.items()
        if name in SERVICES and pid not in counted
    )
    seconds["bench"] = after.own - before.own
    # Processes that started and ended between the snapshots are only in the machine's total,
    # so they land here: short-lived test processes of someone else, typically.
    seconds["others"] = after.busy - before.busy - sum(seconds.values())
    return {name: round(value, 2) for name, value in seconds.items()}


def _machine_busy() -> float:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS


def _processes() -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended while we looked
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rpartition(")")[2].split()
        found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return found
