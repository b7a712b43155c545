"""gunicorn settings for every deployment; override with the environment variables named here."""

import multiprocessing
import os
import subprocess
import sys
import tempfile

bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
# Threads > 1 make gunicorn's gthread worker: it keeps client connections alive, where the
# sync worker closes each one after its request (docs/performance.md measures both).
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Several workers accept on their own socket, so keep-alive load spreads over all of them.
reuse_port = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# Kubernetes sends SIGTERM after the preStop pause; finish in-flight requests before exiting.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = 75  # longer than the ALB's 60 s idle timeout, so the ALB closes first
# The image's root file system is read-only; heartbeat files go to the mounted /tmp.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", tempfile.gettempdir())
# The app is imported and built once in the master, then forked: a worker is up in
# milliseconds instead of each importing everything on the shared cores (docs/performance.md,
# "Before/after"), and the workers share those pages. create_app leaves no connection open.
preload_app = True
# Set here, not in on_starting: the preloaded app creates its metrics before that hook runs,
# and they must be multiprocess ones.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="prometheus-"))
accesslog = "-"
access_log_format = (
    '{"time": "%(t)s", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s",'
    ' "path": "%(U)s", "query": "%(q)s", "status": %(s)s, "bytes": "%(B)s",'
    ' "duration_us": %(D)s, "request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)
errorlog = "-"
forwarded_allow_ips = "*"  # behind the ALB only; ProxyFix trusts exactly one hop


def on_starting(server: object) -> None:
    # Prometheus multiprocess mode: every worker writes its counters into this folder.
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))


def child_exit(server: object, worker: object) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]


# The Prometheus listener (ops/metrics_listener.py) on METRICS_PORT, started once ready.
_metrics_listener: list[subprocess.Popen[bytes]] = []


def when_ready(server: object) -> None:
    # The listener binds the host the app binds (127.0.0.1 under `make run`, all in a pod).
    address = server.cfg.address[0]  # type: ignore[attr-defined]
    host = address[0] if isinstance(address, tuple) else "127.0.0.1"
    _metrics_listener.append(
        # Our own module and interpreter; the host comes from gunicorn's parsed bind address.
        subprocess.Popen([sys.executable, "-m", "incident_tracker.ops.metrics_listener", host])  # noqa: S603
    )


def on_exit(server: object) -> None:
    for listener in _metrics_listener:
        listener.terminate()
        listener.wait(timeout=10)
