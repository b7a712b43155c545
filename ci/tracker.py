"""The pipeline's client of the incident tracker's change API (stdlib only):

  record ENV OUTCOME           POST /api/v1/changes; prints the change id ("" if not recorded)
  bake ENV STARTED_AT          poll for SEV1/SEV2 incidents on SERVICE declared since STARTED_AT,
                               for BAKE_SECONDS; prints their ids, one a line
  link CHANGE_ID INCIDENT_ID   POST /api/v1/incidents/{id}/links

Environment: TRACKER_URL, TRACKER_TOKEN (changes:write + incidents:read + incidents:write for
links), SERVICE, VERSION, IMAGE_DIGEST, STARTED_AT, RUN_URL, TRACKER_ATTEMPTS,
TRACKER_RETRY_SECONDS, BAKE_SECONDS, POLL_SECONDS. A tracker that does not answer never
fails a deploy: `record` and `link` warn (also in $GITHUB_STEP_SUMMARY) and exit 0.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

SEVERE = ("SEV1", "SEV2")


class TrackerError(Exception):
    """The tracker did not answer, or refused the request."""


def _warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"> **Warning**: {message}\n")


def _call(
    method: str, path: str, body: dict[str, Any] | None = None, idempotency_key: str = ""
) -> Any:
    """One API call, retried briefly while the tracker does not answer (or answers 5xx)."""
    url = os.environ["TRACKER_URL"].rstrip("/") + "/api/v1" + path
    headers = {"Authorization": f"Bearer {os.environ['TRACKER_TOKEN']}"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    attempts = int(os.environ.get("TRACKER_ATTEMPTS", "3"))
    pause = float(os.environ.get("TRACKER_RETRY_SECONDS", "2"))
    last = ""
    for attempt in range(1, attempts + 1):
        # TRACKER_URL is checked to be http(s) in main(): no file: or custom scheme gets here.
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                detail = exc.read()[:300].decode(errors="replace")
                raise TrackerError(f"{method} {path}: {exc.code} {detail}") from exc
            last = f"{exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        if attempt < attempts:
            time.sleep(pause)
    raise TrackerError(f"{method} {path}: no answer after {attempts} attempt(s) ({last})")


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def _utc(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(environment: str, outcome: str) -> int:
    commit = os.environ.get("GIT_SHA") or _git("rev-parse", "HEAD")
    committed = _git("show", "-s", "--format=%cI", commit) if commit else ""
    change: dict[str, Any] = {
        "service": os.environ.get("SERVICE", "incident-tracker"),
        "environment": environment,
        "version": os.environ.get("VERSION") or commit[:12] or "unknown",
        "outcome": outcome,
    }
    if commit:
        change["commit_sha"] = commit
    if committed:
        change["committed_at"] = _utc(committed)
    for field, variable in (("image_digest", "IMAGE_DIGEST"), ("url", "RUN_URL")):
        if os.environ.get(variable):
            change[field] = os.environ[variable]
    if os.environ.get("STARTED_AT"):
        change["started_at"] = _utc(os.environ["STARTED_AT"])
    # A retried step of the same deploy (same run, start and outcome) records one change.
    run_url = os.environ.get("RUN_URL", "")
    deploy = f"{run_url}|{environment}|{os.environ.get('STARTED_AT', '')}|{outcome}"
    key = hashlib.sha256(deploy.encode()).hexdigest() if run_url else ""
    try:
        recorded = _call("POST", "/changes", change, idempotency_key=key)
    except TrackerError as exc:
        _warn(f"the change was not recorded in the tracker: {exc}")
        print("")
        return 0
    print(recorded["id"])
    print(f"recorded {recorded['reference']} ({outcome})", file=sys.stderr)
    return 0


def bake(environment: str, started_at: str) -> int:
    """Print the SEV1/SEV2 incidents on the service declared since the deploy started."""
    service = os.environ.get("SERVICE", "incident-tracker")
    bake_seconds = float(os.environ["BAKE_SECONDS"])
    poll = float(os.environ.get("POLL_SECONDS", "10"))
    since = datetime.fromisoformat(started_at).astimezone(UTC)
    query = urllib.parse.urlencode(
        [("service", service), ("limit", "100"), *(("severity", s) for s in SEVERE)]
    )
    deadline = time.monotonic() + bake_seconds
    print(f"baking {service} in {environment} for {bake_seconds:g}s", file=sys.stderr)
    while True:
        try:
            page = _call("GET", f"/incidents?{query}")
        except TrackerError as exc:
            _warn(f"the bake could not ask the tracker: {exc}")
            page = {"items": []}
        hits = [
            item["id"]
            for item in page["items"]
            if datetime.fromisoformat(item["declared_at"].replace("Z", "+00:00")) >= since
        ]
        if hits:
            print("\n".join(str(i) for i in sorted(hits)))
            return 0
        if time.monotonic() >= deadline:
            return 0
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def link(change_id: str, incident_id: str) -> int:
    try:
        _call("POST", f"/incidents/{incident_id}/links", {"change_id": int(change_id)})
    except TrackerError as exc:
        _warn(f"CHG-{change_id} was not linked to INC-{incident_id}: {exc}")
    return 0


def main(argv: list[str]) -> int:
    commands = {"record": record, "bake": bake, "link": link}
    if len(argv) != 3 or argv[0] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.environ.get("TRACKER_URL", "").startswith(("http://", "https://")):
        print("TRACKER_URL must be an http(s) URL", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
