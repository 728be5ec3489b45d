"""A real, throw-away PostgreSQL server for the history-store tests (Debian's postgresql package).

initdb into a fresh folder, `pg_ctl start` on a free loopback port (trust auth, no fsync), stop and
delete at the end. As root, the server runs as the `postgres` user (PostgreSQL refuses root), and
Debian's package is installed with apt-get when it is missing, as `make browser` does for chromium.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SKIP_ENV = "HARNESS_SKIP_POSTGRES"


def find_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb, or initdb's folder on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4])
                   if Path(p).parts[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def install() -> Path | None:
    """Debian's postgresql, when missing and we may install it."""
    if find_bin() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], check=False,
                       env=env, timeout=900)
    return find_bin()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
        self.data = self.root / "data"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin_dir / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
                               + (log.read_text() if log.is_file() else ""))

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PostgresServer:
    """The tests' server; without PostgreSQL the tests fail unless HARNESS_SKIP_POSTGRES=1 says to skip."""
    import pytest

    bin_dir = install()
    if bin_dir is None:
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"no PostgreSQL and {SKIP_ENV}=1")
        pytest.fail("PostgreSQL not found: as root the tests install Debian's postgresql with apt-get; "
                    f"otherwise install it (sudo apt-get install postgresql), or set {SKIP_ENV}=1 to skip")
    return PostgresServer(bin_dir)
