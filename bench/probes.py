"""What the benchmark reads from outside the pipelines: process trees, row counts, pgbench."""

import re
import subprocess
from pathlib import Path

import psycopg

PGBENCH_SCRIPT = Path(__file__).with_name("pgbench") / "intake.sql"


class BenchError(RuntimeError):
    """Raised when a run cannot produce a figure; the message says what to look at."""


def tree_pids(leader: int) -> list[int]:
    """The leader and all its descendants (gunicorn and dramatiq fork their workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _ppid(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [leader]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _ppid(proc_dir: Path) -> int | None:
    try:
        stat = (proc_dir / "stat").read_text()
    except OSError:  # the process ended while we looked
        return None
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    return int(stat.rpartition(")")[2].split()[1])


def rss_bytes(leader: int) -> int:
    """Resident memory of the whole process tree, from each process's VmRSS."""
    total = 0
    for pid in tree_pids(leader):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        total += int(match.group(1)) * 1024 if match else 0
    return total


class RowCounter:
    """One autocommit connection that answers a count query over and over, cheaply."""

    def __init__(self, dsn: str, sql: str) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._sql = sql

    def __call__(self) -> int:
        row = self._conn.execute(self._sql).fetchone()
        return int(row[0]) if row else 0

    def by_status(self) -> dict[str, int]:
        rows = self._conn.execute("SELECT status, count(*) FROM messages GROUP BY status")
        return {str(status): int(n) for status, n in rows}

    def close(self) -> None:
        self._conn.close()


def recreate_database(name: str) -> None:
    """Drop (forcing out leftover sessions of an interrupted run) and create ``name``."""
    with psycopg.connect("dbname=postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def apply_sql_file(dsn: str, path: Path) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(path.read_text())


def pgbench_tps(database: str, seconds: int, clients: int = 8, jobs: int = 2) -> float:
    """PostgreSQL's own rate for the intake transaction (the naive schema must be applied)."""
    argv = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", str(jobs),
            "-T", str(seconds), "-f", str(PGBENCH_SCRIPT), database]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if done.returncode != 0 or match is None:
        raise BenchError(f"pgbench failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if failed and int(failed.group(1)):
        raise BenchError(f"pgbench had failed transactions:\n{done.stdout}")
    return float(match.group(1))
