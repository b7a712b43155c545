"""The system under test: a throwaway PostgreSQL, the schema, a token, seed data, gunicorn."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg2
from tests.support.postgres import LocalPostgres, free_port

BIN = Path(sys.executable).parent
# A throwaway run's session key: random per process, never a deployment's.
BENCH_SECRET_KEY = secrets.token_urlsafe(32)
# The child gunicorn_conf.py's when_ready starts beside the workers (`python -m` it).
LISTENER_MODULE = "incident_tracker.ops.metrics_listener"
STATUSES = ("triage", "investigating", "identified", "monitoring", "resolved", "closed", "canceled")


def service_env(pg: LocalPostgres, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The production configuration, pointed at the throwaway database."""
    env = dict(os.environ)
    env["DATABASE_URL"] = pg.url
    env["SECRET_KEY"] = BENCH_SECRET_KEY
    env["METRICS_PORT"] = str(free_port())  # never the default 9100 another run may hold
    env.update(overrides or {})
    return env


def dsn(pg: LocalPostgres) -> str:
    return f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres"


def cli(pg: LocalPostgres, *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "incident-tracker"), *args],
        env=service_env(pg),
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


def prepare_database(pg: LocalPostgres) -> str:
    """Migrate to the newest revision and return a read+write API token."""
    cli(pg, "db", "upgrade")
    return cli(
        pg, "tokens", "create", "bench", "--scope", "incidents:read", "--scope", "incidents:write"
    )


SEED_SQL = """
INSERT INTO incidents (
    title, summary, severity, status, service, commander, reporter, tags, dedup_key,
    started_at, declared_at, acknowledged_at, mitigated_at, resolved_at, closed_at, canceled_at,
    resolution_summary, cancel_reason, reopen_count, version, created_at, updated_at)
SELECT
    'seeded incident ' || g,
    'p99 latency above the SLO on node ' || (g %% 97),
    (ARRAY['SEV1', 'SEV2', 'SEV3', 'SEV4'])[1 + g %% 4],
    s.status,
    (ARRAY['checkout', 'payments', 'search', 'auth', 'catalog'])[1 + g %% 5],
    'alice@example.com',
    'seed',
    jsonb_build_array('seed', 'node-' || (g %% 97)),
    NULL,
    t.ts - interval '10 minutes',
    t.ts,
    CASE WHEN s.status <> 'triage' THEN t.ts + interval '2 minutes' END,
    CASE WHEN s.status IN ('monitoring', 'resolved', 'closed')
         THEN t.ts + interval '30 minutes' END,
    CASE WHEN s.status IN ('resolved', 'closed') THEN t.ts + interval '1 hour' END,
    CASE WHEN s.status = 'closed' THEN t.ts + interval '1 day' END,
    CASE WHEN s.status = 'canceled' THEN t.ts + interval '5 minutes' END,
    CASE WHEN s.status IN ('resolved', 'closed') THEN 'rolled back' END,
    CASE WHEN s.status = 'canceled' THEN 'false alarm' END,
    0, 1, t.ts, t.ts
FROM generate_series(1, %(count)s) AS g
CROSS JOIN LATERAL (
    SELECT now() - (%(count)s - g) * interval '1 second' AS ts) AS t
CROSS JOIN LATERAL (
    SELECT CASE WHEN g <= %(investigating)s THEN 'investigating'
                ELSE (ARRAY['triage', 'investigating', 'identified', 'monitoring',
                            'resolved', 'closed', 'canceled'])[1 + g %% 7] END AS status) AS s
"""


def seed(pg: LocalPostgres, count: int, investigating: int) -> float:
    """Insert `count` incidents in one statement; ids 1..investigating are 'investigating'.

    The secondary indexes are dropped for the load and rebuilt from their own definitions,
    which is several times faster than maintaining the two GIN indexes row by row.
    """
    started = time.monotonic()
    with psycopg2.connect(dsn(pg)) as conn, conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '256MB'")
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'incidents'"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cur.fetchall()
        for name, _definition in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute(SEED_SQL, {"count": count, "investigating": investigating})
        for _name, definition in indexes:
            cur.execute(definition)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('incidents', 'id'),"
            " (SELECT max(id) FROM incidents))"
        )
    conn = psycopg2.connect(dsn(pg))
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE incidents")
    finally:
        conn.close()
    return time.monotonic() - started


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _is_metrics_listener(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False  # exited since the master listed it
    return LISTENER_MODULE.encode() in command


@dataclass
class Service:
    """gunicorn started by `incident-tracker serve` with the repository's gunicorn_conf.py."""

    pg: LocalPostgres
    log_path: Path
    workers: int | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # From `incident-tracker serve` started to the first /readyz 200, and to every worker up.
    ready_seconds: float | None = None
    all_workers_seconds: float | None = None
    _log: IO[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [str(BIN / "incident-tracker"), "serve", "--bind", f"127.0.0.1:{self.port}"]
        if self.workers:
            args += ["--workers", str(self.workers)]
        self._log = self.log_path.open("ab")
        started = time.monotonic()
        self.ready_seconds = None
        self.process = subprocess.Popen(
            args,
            env=service_env(self.pg, self.overrides),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            if http_status(self.base + "/readyz") == 200:
                if self.ready_seconds is None:
                    self.ready_seconds = round(time.monotonic() - started, 2)
                if len(self.worker_pids()) >= self.expected_workers():
                    self.all_workers_seconds = round(time.monotonic() - started, 2)
                    return
            time.sleep(0.05)
        self.stop()  # a service that never got ready must not outlive the run
        raise RuntimeError("the service did not become ready in 60 s")

    def expected_workers(self) -> int:
        """As gunicorn_conf.py counts them: --workers, else WEB_CONCURRENCY, else 2 per CPU + 1."""
        configured = self.overrides.get("WEB_CONCURRENCY") or os.environ.get("WEB_CONCURRENCY")
        return self.workers or int(configured or (os.cpu_count() or 1) * 2 + 1)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: the master's children but the metrics listener it starts."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            children = [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []
        return sorted(pid for pid in children if not _is_metrics_listener(pid))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_events(self) -> dict[str, int]:
        """Worker lifecycle lines in gunicorn's log: timeouts, crashes, boots."""
        text = self.log_path.read_text(errors="replace")
        return {
            "worker_timeouts": text.count("WORKER TIMEOUT"),
            "worker_boots": text.count("Booting worker"),
            "worker_exits": len(re.findall(r"Worker exiting|Worker \(pid:\d+\) was sent", text)),
            "tracebacks": text.count("Traceback (most recent call last)"),
        }


_SS_PID = re.compile(r"pid=(\d+)")


def connections_by_pid(port_filter: str) -> Counter[int]:
    """Established TCP connections per owning process, from `ss -tnp`."""
    result = subprocess.run(
        ["ss", "-tnpH", "state", "established", port_filter],
        capture_output=True,
        text=True,
        check=False,
    )
    counts: Counter[int] = Counter()
    for line in result.stdout.splitlines():
        for pid in set(_SS_PID.findall(line)):
            counts[int(pid)] += 1
    return counts


def summarize_counts(samples: list[Counter[int]], pids: list[int]) -> dict[str, Any]:
    """Per worker: the largest and mean count seen over the samples."""
    per_worker: dict[str, Any] = {}
    for pid in pids:
        seen = [sample.get(pid, 0) for sample in samples] or [0]
        per_worker[str(pid)] = {"max": max(seen), "mean": round(sum(seen) / len(seen), 2)}
    return per_worker


def token_hash(token: str) -> str:
    from incident_tracker.auth.service import hash_token

    return hash_token(token)


def cursor_for(last_id: int) -> str:
    from incident_tracker.core.pagination import encode_cursor

    return encode_cursor(last_id)
