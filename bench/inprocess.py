"""CPU per request inside one process: the app's own cost of get, list and create.

wrk beside the peer measures what users see, but on a shared 2-core machine its figures
swing with everything else running. Here the WSGI app is called directly (no gunicorn, no
sockets, no wrk) against a throwaway PostgreSQL with 10 000 incidents, one request at a
time, and the process's own CPU time is divided by the requests: a figure that moves with
our code, not with the neighbours. cProfile (its clock: CPU time) then lists where it goes.

    python -m bench.inprocess                 # get, list and create
    python -m bench.inprocess list --top 40   # one scenario, a longer profile
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.postgres import local_postgres
from werkzeug.test import EnvironBuilder

from bench import stack

ROWS = 10_000
WARM_UP = 50
MEASURED = 500
PROFILED = 500
# The peer's create body (../shared/peer/wrk/create.lua), valid for both services.
CREATE_BODY = (
    b'{"title": "Checkout latency above SLO (bench 1-1)", "summary": "p99 over 2 s since '
    b'04:10; created by the wrk benchmark", "severity": "SEV2", "service": "checkout"}'
)
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(method: str, path: str, token: str, body: bytes | None = None) -> dict[str, Any]:
    builder = EnvironBuilder(
        method=method,
        path=path,
        headers=[("Authorization", f"Bearer {token}")],
        data=body,
        content_type="application/json" if body else None,
    )
    return builder.get_environ()


def call(app: WsgiApp, template: dict[str, Any], body: bytes | None) -> str:
    """One request; returns its status line."""
    statuses: list[str] = []
    request = dict(template)
    if body is not None:
        request["wsgi.input"] = io.BytesIO(body)

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
        statuses.append(status)

    for _chunk in app(request, start_response):
        pass
    return statuses[0]


def scenarios(token: str) -> dict[str, Callable[[int], tuple[dict[str, Any], bytes | None]]]:
    return {
        "get": lambda i: (environ("GET", f"/api/v1/incidents/{1 + i % ROWS}", token), None),
        "list": lambda _: (environ("GET", "/api/v1/incidents?limit=25", token), None),
        "create": lambda _: (environ("POST", "/api/v1/incidents", token, CREATE_BODY), CREATE_BODY),
    }


def measure(app: WsgiApp, make: Callable[[int], tuple[dict[str, Any], bytes | None]]) -> float:
    """CPU milliseconds per request, after a warm-up."""
    requests = [make(i) for i in range(WARM_UP + MEASURED)]
    for template, body in requests[:WARM_UP]:
        status = call(app, template, body)
        assert status.startswith("20"), status
    started = time.process_time()
    for template, body in requests[WARM_UP:]:
        call(app, template, body)
    return (time.process_time() - started) / MEASURED * 1000


def profile(
    app: WsgiApp, make: Callable[[int], tuple[dict[str, Any], bytes | None]], top: int
) -> str:
    requests = [make(i) for i in range(PROFILED)]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for template, body in requests:
        call(app, template, body)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="*", help="get, list or create (default: all three)")
    parser.add_argument("--top", type=int, default=0, help="print cProfile's top N (0: none)")
    args = parser.parse_args()
    if unknown := set(args.scenario) - {"get", "list", "create"}:
        parser.error(f"unknown scenario: {', '.join(sorted(unknown))}")
    with local_postgres() as pg:
        token = stack.prepare_database(pg)
        stack.seed(pg, ROWS, ROWS // 2)
        os.environ.update(stack.service_env(pg))
        os.environ["LOG_LEVEL"] = "WARNING"  # no log line per request on the terminal
        from incident_tracker.app import create_app

        app = create_app()
        for name, make in scenarios(token).items():
            if args.scenario and name not in args.scenario:
                continue
            print(f"{name}: {measure(app, make):.2f} ms CPU per request", flush=True)
            if args.top:
                print(profile(app, make, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
