"""The previous release against the new schema, for real: migrate, roll out, roll back under load.

What a deploy does on EKS, on this machine: the previous release's code serves under gunicorn
on PostgreSQL while a steady small load (writes and reads) flows; the new release's migration
runner upgrades the database under it; pods of the new code start on the same database and the
old ones stop (the rollout); then old pods start again and the new ones stop (the rollback).
Throughout: no 5xx and no refused connection, every pod in service answers /readyz 200, and
every incident that got a 201 is there at the end, read back through the old code.

The previous release is the last `v*` tag before HEAD, else the parent of the last commit that
changed `migrations/` (the code that served while that change's Job ran). Its code runs from an
export of that commit with this .venv's Python and PYTHONPATH pointing at its own src/: the two
share their dependencies (constraints.txt), and the test checks the old code is what imports.
The load is bounded by counts (requests per phase), not by time. Figures: reports/rehearsal.json.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from incident_tracker import migrate
from tests.support.postgres import DatabaseUnderTest, created_database, free_port
from tests.support.programs import TEST_SECRET_KEY, http_status, wait_for

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "rehearsal.json"
REQUESTS_PER_PHASE = 40
WRITERS = 2
# A small steady load, not a stress test: room on a shared CPU for the pods to start.
PACE_SECONDS = 0.05


def git(*args: str) -> str | None:
    result = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else None


def previous_release() -> str | None:
    """The last v* tag before HEAD, else the parent of the last commit that changed migrations/.

    REHEARSAL_PREVIOUS_RELEASE (any commit-ish) rehearses against a release of your choosing.
    """
    if chosen := os.environ.get("REHEARSAL_PREVIOUS_RELEASE"):
        return git("rev-parse", "--verify", "--quiet", f"{chosen}^{{commit}}") or chosen
    tag = git("describe", "--tags", "--abbrev=0", "--match", "v*", "HEAD^")
    if tag:
        return tag
    last_change = git("log", "-1", "--format=%H", "HEAD", "--", "migrations/")
    return git("rev-parse", "--verify", "--quiet", f"{last_change}^") if last_change else None


def export(commit: str, into: Path) -> Path:
    """The commit's code, migrations and alembic.ini in a folder of their own."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src", "migrations", "alembic.ini"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


@dataclass
class Release:
    """One release's code: its own tree, run with this .venv's Python."""

    name: str
    tree: Path
    env: dict[str, str]

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from incident_tracker.cli import run; run()", *args],
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def cli(self, *args: str) -> str:
        result = self.command(*args)
        assert result.returncode == 0, f"{self.name}: incident-tracker {args}: {result.stderr}"
        return result.stdout

    def imported_from(self) -> Path:
        """Where `import incident_tracker` finds the package (found, not run: that is slow)."""
        probe = "import importlib.util as u; print(u.find_spec('incident_tracker').origin)"
        out = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return Path(out.strip())


@dataclass
class Pod:
    """gunicorn serving one release on its own port, like one pod behind the Service."""

    release: Release
    logs: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Pod:
        config = self.release.tree / "src" / "incident_tracker" / "gunicorn_conf.py"
        metrics_dir = self.logs.with_suffix(".prometheus")
        metrics_dir.mkdir()
        env = {**self.release.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        with self.logs.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--config",
                    str(config),
                    "--bind",
                    f"127.0.0.1:{self.port}",
                    "incident_tracker:create_app()",
                ],
                cwd=self.release.tree,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self.process

        def ready() -> bool:
            assert process.poll() is None, (
                f"{self.release.name} exited with {process.returncode}: "
                + self.logs.read_text()[-2000:]
            )
            return http_status(f"{self.url}/readyz") == 200

        wait_for(f"{self.release.name} to be ready", ready, timeout=60)
        return self

    def stop(self) -> None:
        """SIGTERM, as Kubernetes sends after the endpoint is removed: in-flight requests finish."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


@dataclass
class Outcome:
    method: str
    path: str
    status: int | None  # None: no answer (connection refused or reset)


class Service:
    """The Service's endpoints, a steady load through them, and a /readyz poller per pod."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.endpoints: list[Pod] = []
        self.lock = threading.Condition()
        self.in_flight: dict[int, int] = {}  # by pod port
        self.outcomes: list[Outcome] = []
        self.created: dict[int, str] = {}
        self.readiness: dict[str, list[tuple[float, int | None]]] = {}
        self.done = threading.Event()
        self.progress = threading.Condition()
        self.round_robin = itertools.count()
        self.threads = [
            threading.Thread(target=self._write_and_read, args=(n,)) for n in range(WRITERS)
        ] + [threading.Thread(target=self._poll_readiness)]

    def add(self, pod: Pod) -> None:
        with self.lock:
            self.endpoints.append(pod)
            self.readiness.setdefault(pod.release.name + f":{pod.port}", [])

    def remove(self, pod: Pod) -> None:
        """Take the pod out of the endpoints and wait until nothing is sent to it any more.

        On EKS the preStop pause covers this: the pod keeps serving while the endpoint removal
        reaches every node and the load balancer, and only then gets SIGTERM.
        """
        with self.lock:
            self.endpoints.remove(pod)
            self.lock.wait_for(lambda: self.in_flight.get(pod.port, 0) == 0)

    @contextlib.contextmanager
    def _using(self, pod: Pod | None = None) -> Iterator[Pod]:
        """A pod in service (round robin, or the one given) held until the request is done."""
        with self.lock:
            if pod is None:
                pod = self.endpoints[next(self.round_robin) % len(self.endpoints)]
            self.in_flight[pod.port] = self.in_flight.get(pod.port, 0) + 1
        try:
            yield pod
        finally:
            with self.lock:
                self.in_flight[pod.port] -= 1
                self.lock.notify_all()

    def _call(self, method: str, path: str, body: Mapping[str, object] | None = None) -> Outcome:
        with self._using() as pod:
            return self._send(pod, method, path, body)

    def _send(self, pod: Pod, method: str, path: str, body: Mapping[str, object] | None) -> Outcome:
        request = urllib.request.Request(
            pod.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        payload: dict[str, object] = {}
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status: int | None = response.status
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = None
        outcome = Outcome(method, path, status)
        if method == "POST" and status == 201:
            self.created[int(str(payload["id"]))] = str(payload["title"])
        with self.progress:
            self.outcomes.append(outcome)
            self.progress.notify_all()
        return outcome

    def _write_and_read(self, writer: int) -> None:
        for n in itertools.count():
            if self.done.is_set():
                return
            title = f"rehearsal writer {writer} #{n}"
            body = {"title": title, "severity": "SEV3", "service": "rehearsal"}
            self._call("POST", "/api/v1/incidents", body)
            self._call("GET", "/api/v1/incidents?service=rehearsal")
            time.sleep(PACE_SECONDS)

    def _poll_readiness(self) -> None:
        while not self.done.is_set():
            with self.lock:
                pods = list(self.endpoints)
            for candidate in pods:
                with self._using(candidate) as pod:
                    if pod not in self.endpoints:
                        continue  # removed since the snapshot
                    self.readiness[pod.release.name + f":{pod.port}"].append(
                        (time.monotonic(), http_status(f"{pod.url}/readyz"))
                    )
            time.sleep(0.02)

    def advance(self, requests: int) -> None:
        """Let `requests` more requests complete (the load is bounded by count, not time)."""
        with self.progress:
            target = len(self.outcomes) + requests
            self.progress.wait_for(lambda: len(self.outcomes) >= target, timeout=120)
        assert len(self.outcomes) >= target, "the load stalled"

    @contextlib.contextmanager
    def running(self) -> Iterator[Service]:
        for thread in self.threads:
            thread.start()
        try:
            yield self
        finally:
            self.done.set()
            for thread in self.threads:
                thread.join(timeout=60)

    def unready_samples(self) -> int:
        return sum(1 for s in self.readiness.values() for _, status in s if status != 200)

    def longest_unready_gap(self) -> float:
        """The longest run of non-200 /readyz answers of any pod while it was in service."""
        longest = 0.0
        for samples in self.readiness.values():
            unready_since: float | None = None
            for at, status in samples:
                if status != 200 and unready_since is None:
                    unready_since = at
                elif status == 200 and unready_since is not None:
                    longest = max(longest, at - unready_since)
                    unready_since = None
            if unready_since is not None:
                longest = max(longest, samples[-1][0] - unready_since)
        return longest


@contextlib.contextmanager
def report(service: Service, previous: str, old_tree: Path) -> Iterator[None]:
    """Write the figures to reports/rehearsal.json and print them, also after a failure."""
    try:
        yield
    finally:
        figures = {
            "previous_release": previous,
            "revisions": [
                migrate.schema_head(old_tree / "alembic.ini"),
                migrate.schema_head(ROOT / "alembic.ini"),
            ],
            "requests": len(service.outcomes),
            "writes_201": len(service.created),
            "5xx_or_no_answer": sum(
                1 for o in service.outcomes if o.status is None or o.status >= 500
            ),
            "readyz_samples": sum(len(s) for s in service.readiness.values()),
            "readyz_not_200": service.unready_samples(),
            "longest_unready_gap_s": round(service.longest_unready_gap(), 3),
        }
        REPORT.parent.mkdir(exist_ok=True)
        REPORT.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"rehearsal: {json.dumps(figures)}")


@pytest.fixture
def previous(tmp_path: Path) -> Iterator[str]:
    commit = previous_release()
    if commit is None:
        pytest.skip(
            "no previous release in this checkout's history (a shallow or exported copy): "
            "the rehearsal needs the last v* tag or the commit before the last migrations/ change"
        )
    yield commit


def test_previous_release_survives_the_migration_rollout_and_rollback(
    previous: str, test_database: DatabaseUnderTest, tmp_path: Path
) -> None:
    old_tree = export(previous, tmp_path / "previous")
    with created_database(test_database.url, f"rehearsal_{os.getpid()}") as url:
        base_env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": TEST_SECRET_KEY,
            "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "4",
            "LOG_LEVEL": "WARNING",
        }
        base_env.pop("DB_SECRET_ARN", None)
        old = Release(
            f"previous ({previous[:12]})",
            old_tree,
            {**base_env, "PYTHONPATH": str(old_tree / "src")},
        )
        new = Release("new (HEAD)", ROOT, {**base_env, "PYTHONPATH": str(ROOT / "src")})
        assert old.imported_from().is_relative_to(old_tree), "the old code must be what runs"

        old.cli("db", "upgrade")  # the schema the previous release shipped with
        token = old.cli("tokens", "create", "rehearsal", "--scope", "admin").strip()
        service = Service(token)
        with contextlib.ExitStack() as pods:

            def start(release: Release, name: str) -> Pod:
                pod = Pod(release, tmp_path / f"{name}.log").start()
                pods.callback(pod.stop)  # also when the test fails half-way
                service.add(pod)
                return pod

            old_pod = start(old, "old")
            with service.running(), report(service, previous, old_tree):
                service.advance(REQUESTS_PER_PHASE)
                # The new release's migration Job, while the previous release serves.
                new.cli("db", "upgrade")
                service.advance(REQUESTS_PER_PHASE)
                # Rollout: new pods become ready on the same database, then the old ones stop.
                new_pod = start(new, "new")
                service.advance(REQUESTS_PER_PHASE)
                service.remove(old_pod)
                old_pod.stop()
                service.advance(REQUESTS_PER_PHASE)
                # Rollback (`kubectl rollout undo`): the old code again, on the newer schema.
                old_again = start(old, "old-again")
                service.advance(REQUESTS_PER_PHASE)
                service.remove(new_pod)
                new_pod.stop()
                service.advance(REQUESTS_PER_PHASE)
            # Nothing written is lost: every 201 reads back through the old code, and is stored.
            lost = [
                incident_id
                for incident_id in service.created
                if http_status(f"{old_again.url}/api/v1/incidents/{incident_id}", token) != 200
            ]
            engine = sa.create_engine(url)
            with engine.connect() as connection:
                stored: dict[int, str] = dict(
                    connection.execute(sa.text("SELECT id, title FROM incidents")).all()
                )
            engine.dispose()

    server_errors = [o for o in service.outcomes if o.status is None or o.status >= 500]
    assert server_errors == [], server_errors[:10]
    assert service.unready_samples() == 0, service.readiness
    assert lost == []
    assert {i: stored.get(i) for i in service.created} == service.created
    assert len(service.created) >= REQUESTS_PER_PHASE  # the load really wrote
