"""A throw-away PostgreSQL cluster for the tests: `initdb` in a temporary folder owned by the
test run, the server on 127.0.0.1 and a free port (its socket in that folder), a database
per test, everything removed at the end.

The server binaries are looked up on PATH, then in /usr/lib/postgresql/*/bin (where Debian
puts them). Without them PostgreSQL tests skip, and fail under CI (`make system-deps`
installs them). As root, the server runs as the `postgres` user (it refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

TOOLS = ("initdb", "pg_ctl", "postgres", "createdb", "dropdb")


def find_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres, newest version first."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)

    def version(p: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p)) or (0,)

    candidates += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version)[::-1]
    ]
    for folder in candidates:
        if all(os.access(folder / t, os.X_OK) for t in TOOLS):
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bin_dir: Path
    root: Path
    port: int
    user: str = "postgres"
    run_as: tuple[str, ...] = ()

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.run_as, *args], check=check, capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.user,
            "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync",
        )  # fmt: skip
        options = (
            f"-k {self.root} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        done = self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-w", "-t", "60", "-o", options, "start", check=False,
        )  # fmt: skip
        if done.returncode != 0:
            log = (
                (self.root / "log").read_text(errors="replace")
                if (self.root / "log").exists()
                else ""
            )
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}\n{log}")

    def stop(self) -> None:
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
            "stop", check=False,
        )  # fmt: skip


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster; stop and remove it at the end."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl, postgres)")
    root = Path(tempfile.mkdtemp(prefix="monitor-pg-"))
    run_as: tuple[str, ...] = ()
    if os.geteuid() == 0:  # the server will not run as root: hand the folder to `postgres`
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        root.chmod(0o700)
        run_as = ("runuser", "-u", "postgres", "--")
    c = Cluster(bin_dir, root, _free_port(), run_as=run_as)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """The session's PostgreSQL cluster; skips without server binaries (fails under CI)."""
    if find_bin_dir() is None:
        message = "PostgreSQL server binaries not found (make system-deps installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with cluster() as c:
        yield c


def create_database(c: Cluster) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    subprocess.run(
        [str(c.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(c.port), "-U", c.user, name],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return name


def drop_database(c: Cluster, name: str) -> None:
    subprocess.run(
        [str(c.bin_dir / "dropdb"), "-h", "127.0.0.1", "-p", str(c.port), "-U", c.user,
         "--force", "--if-exists", name],
        check=False, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped after the test."""
    name = create_database(pg_cluster)
    yield pg_cluster.url(name)
    drop_database(pg_cluster, name)
