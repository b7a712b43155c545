# Shared helpers for the ci/ steps; source it, do not run it.
# shellcheck shell=bash
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export VENV="${REPO_ROOT}/.venv"
# Deploy values of no account (ENV.json) for what renders the overlays without AWS
# (ci/manifests-check, ci/scan, the tests); deploys read Terraform's (ci/render_values.py).
export CHECK_VALUES_DIR="${REPO_ROOT}/kustomize/check-values"
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install Debian packages when running as root and a command is missing; otherwise say so.
need_apt() {
  local command_name="$1" package="$2"
  command -v "$command_name" >/dev/null 2>&1 && return 0
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "installing ${package} (for ${command_name})"
    if [[ ! -f /tmp/.incident-tracker-apt-updated ]]; then
      apt-get update -qq && touch /tmp/.incident-tracker-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  else
    log "missing ${command_name}; install the Debian package ${package}"
    return 1
  fi
}

# Run pip, dropping this machine's noise about unreachable local index folders.
pip_quiet() {
  local status=0
  "$@" 2>&1 | grep -v '^WARNING: Location' || status=${PIPESTATUS[0]}
  return "$status"
}

# The test PostgreSQL: TEST_DATABASE_URL, a testcontainer, or a throwaway server started from
# the Debian binaries; make sure the binaries are there when neither of the first two is.
need_test_postgres() {
  [[ -n "${TEST_DATABASE_URL:-}" ]] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
  need_apt pg_ctlcluster postgresql || true
}

# The real Prometheus programs the integration tests drive; the tests skip, saying so, without.
need_monitoring_tools() {
  need_apt prometheus-alertmanager prometheus-alertmanager || true  # also ships amtool
  need_apt promtool prometheus || true
}

# Export TEST_DATABASE_URL: kept when set, else the URL of a throwaway PostgreSQL
# (tests/support/postgres.py) that stops when the calling script exits (its EXIT trap).
use_test_database() {
  [[ -n "${TEST_DATABASE_URL:-}" ]] && return 0
  need_test_postgres
  pg_out="$(mktemp)"
  "$VENV/bin/python" -m tests.support.postgres >"$pg_out" &
  pg_pid=$!
  # shellcheck disable=SC2317  # called by the trap
  stop_postgres() { kill -TERM "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null; rm -f "$pg_out"; }
  trap stop_postgres EXIT
  for _ in $(seq 300); do
    [[ -s "$pg_out" ]] && break
    kill -0 "$pg_pid" 2>/dev/null || die "the throwaway PostgreSQL did not start"
    sleep 0.1
  done
  TEST_DATABASE_URL="$(head -n 1 "$pg_out")"
  [[ -n "$TEST_DATABASE_URL" ]] || die "the throwaway PostgreSQL did not report its URL in 30 s"
  export TEST_DATABASE_URL
}
