"""A real PostgreSQL for tests: TEST_DATABASE_URL, a testcontainer, or a throwaway local server.

Run as a module to start a throwaway server by hand:
    python -m tests.support.postgres   (prints its URL, stops on Ctrl-C)
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
DEFAULT_CONTAINER_IMAGE = "postgres:16-alpine"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster in a temp dir, owned by an unprivileged user when we are root."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str | None  # the OS user to run as; None means the current user
    process: subprocess.Popen[bytes] | None = None
    # More `-c name=value` server settings (the benchmark loads pg_stat_statements).
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def _run_as(self) -> dict[str, object]:
        if self.user is None:
            return {}
        entry = pwd.getpwnam(self.user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def init(self) -> None:
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **self._run_as(),  # type: ignore[call-overload]
        )

    def start(self) -> None:
        self.process = subprocess.Popen(  # type: ignore[call-overload]
            [
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.data_dir),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                *(arg for name, value in self.settings for arg in ("-c", f"{name}={value}")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **self._run_as(),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}")
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready in 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            self.process.wait(timeout=30)
        self.process = None


@contextlib.contextmanager
def local_postgres(settings: dict[str, str] | None = None) -> Iterator[LocalPostgres]:
    if not PG_BIN_CANDIDATES:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    user = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="it-pg-"))
    data = base / "data"
    data.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (base, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    server = LocalPostgres(
        PG_BIN_CANDIDATES[0], data, free_port(), user, settings=tuple((settings or {}).items())
    )
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class DatabaseUnderTest:
    """The PostgreSQL the whole run tests against (the `test_database` fixture)."""

    url: str
    source: str
    server: LocalPostgres | None  # set when the suite owns the server and can stop it


def libpq_dsn(url: str) -> str:
    """A SQLAlchemy URL as psycopg2 takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _on_server(server_url: str, *statements: str) -> None:
    connection = psycopg2.connect(libpq_dsn(server_url))
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def terminate_backend(database_url: str, pid: int) -> None:
    """pg_terminate_backend from a second connection, then wait until the backend is gone."""
    with contextlib.closing(psycopg2.connect(libpq_dsn(database_url))) as connection:
        connection.autocommit = True  # each look at pg_stat_activity sees it afresh
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))
            assert cursor.fetchone() == (True,)
            deadline = time.monotonic() + 10
            while True:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                if cursor.fetchone() == (0,):
                    return
                assert time.monotonic() < deadline, f"backend {pid} still there after 10 s"
                time.sleep(0.05)


@contextlib.contextmanager
def created_database(server_url: str, name: str) -> Iterator[str]:
    """A new, empty database on the server of `server_url`; dropped afterwards. Yields its URL.

    Each step connects anew: a test in between may restart the server (the outage test).
    """
    _on_server(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _on_server(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def container_postgres() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    image = os.environ.get("TEST_POSTGRES_IMAGE", DEFAULT_CONTAINER_IMAGE)
    with PostgresContainer(image, driver="psycopg2") as container:
        yield container.get_connection_url()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)  # unwinds local_postgres(), which stops the server and removes its files


if __name__ == "__main__":
    # ci/migrations runs this in the background, where SIGINT is ignored: SIGTERM stops it.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with local_postgres() as pg:
        print(pg.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


@contextlib.contextmanager
def password_checked_for(server_url: str, role: str) -> Iterator[None]:
    """Make the server check `role`'s password over TCP; drop the role afterwards.

    The throwaway server trusts every login (initdb -A trust), and a rotation test needs one
    that refuses an old password. A server whose hba file is out of reach (a container,
    TEST_DATABASE_URL) is left as it is: those check passwords over TCP already.
    """
    connection = psycopg2.connect(libpq_dsn(server_url))
    connection.autocommit = True
    hba_file: Path | None = None
    original = ""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW hba_file")
            (name,) = cursor.fetchone()
            if os.access(name, os.W_OK):
                hba_file = Path(name)
                original = hba_file.read_text()
                hba_file.write_text(f"host all {role} all scram-sha-256\n{original}")
                cursor.execute("SELECT pg_reload_conf()")
        yield
    finally:
        with connection.cursor() as cursor:
            # Databases it had privileges in are dropped by now (created_database, inside).
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
            if hba_file is not None:
                hba_file.write_text(original)
                cursor.execute("SELECT pg_reload_conf()")
        connection.close()
