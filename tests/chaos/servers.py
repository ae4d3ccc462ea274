"""Private Redis and PostgreSQL servers that chaos tests may kill and restart freely.

The machine's shared servers are never touched: other test runs (and a live pipeline) use
them. Each private server runs on a free loopback port with its data in a temporary folder.
"""

import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support import free_port, wait_for

PG_BIN = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])


class PrivateRedis:
    """A Redis that keeps nothing on disk: a restart empties every queue, as in production."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> "PrivateRedis":
        argv = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: _pings(client), timeout=10, what="private redis")
        client.close()
        return self

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart_empty(self) -> None:
        self.kill()
        self.start()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) that can be crashed with `stop -m immediate`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="wapipe-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/wapipe_chaos"
        shutil.chown(self.dir, "postgres")

    def _as_postgres(self, *argv: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def init(self) -> "PrivatePostgres":
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"
        )
        return self.start()

    def start(self) -> "PrivatePostgres":
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.dir / "log"), "-w", "start",
        )  # fmt: skip
        return self

    def crash(self) -> None:
        """Stop without a checkpoint, as a power cut or an OOM kill would."""
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already down
            self.crash()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(client: "redis.Redis") -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
