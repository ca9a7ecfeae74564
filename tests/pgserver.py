"""A throwaway PostgreSQL server for tests: initdb + pg_ctl on a free loopback port (as `postgres` when root)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path


def find_bin(name: str) -> str | None:
    """Return the path of a PostgreSQL server binary, from PATH or Debian's versioned folder."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def free_port() -> int:
    """Return a free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """Start with start(), stop with stop(); `uri` is a libpq URI to the `pings` database."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        self.root = Path(tempfile.mkdtemp(prefix="pings-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            self.as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
            os.chmod(self.root, 0o755)

    @property
    def available(self) -> str | None:
        """Return why the server cannot run here, or None."""
        if not (self.initdb and self.pg_ctl):
            return "initdb/pg_ctl not found (Debian package: postgresql)"
        if self.as_user:
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                return "running as root but there is no `postgres` user to run the server as"
        return None

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> "PgServer":
        """Initialise a cluster with trust auth and start it on the port."""
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        opts = f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.root} -c fsync=off"
        self._run(self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        """Stop the server and remove its files."""
        try:
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def uri(self) -> str:
        """libpq URI of the `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@contextmanager
def running(*statements: str):
    """Start a server (a missing PostgreSQL fails in CI, skips locally), run the statements, yield it, stop it."""
    import adbc_driver_postgresql.dbapi as pg
    from conftest import require

    srv = PgServer()
    why = srv.available
    if why:
        require("PostgreSQL", why)
    srv.start()
    try:
        with pg.connect(srv.uri) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            conn.commit()
        yield srv
    finally:
        srv.stop()
