"""Lint every Alembic revision's PostgreSQL SQL with squawk, one file per revision.

    python ci/migration_lint.py OUT_DIR [ALEMBIC_INI]   (entry point: ci/migration-lint)

Alembic renders each revision offline (`upgrade DOWN:REV --sql`, as `alembic upgrade --sql`
prints it) into OUT_DIR/<revision>.sql, and squawk (configured by .squawk.toml) lints them all.
A revision that must break a rule says so in its module, with the reason:

    squawk_ignore = {"require-concurrent-index-creation": "api_tokens holds a few rows"}

which becomes `-- squawk-ignore-file RULE` at the top of that revision's SQL. An empty reason
is refused: an exception without a reason is not reviewable.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.script import Script, ScriptDirectory

from incident_tracker import migrate

ROOT = Path(__file__).resolve().parents[1]
# Offline mode only renders SQL for this dialect; nothing connects to it.
RENDER_URL = "postgresql+psycopg2://migration-lint@localhost/migration_lint"


def exceptions(script: Script) -> dict[str, str]:
    declared = getattr(script.module, "squawk_ignore", {})
    if not isinstance(declared, dict):
        raise SystemExit(f"{script.path}: squawk_ignore must map rule names to reasons")
    for rule, reason in declared.items():
        if not str(reason).strip():
            raise SystemExit(f"{script.path}: squawk_ignore[{rule!r}] needs a reason")
    return {str(rule): str(reason) for rule, reason in declared.items()}


def revision_sql(ini: Path, script: Script) -> str:
    buffer = io.StringIO()
    config = migrate.alembic_config(ini)
    config.output_buffer = buffer
    down = script.down_revision
    if isinstance(down, str):
        command.upgrade(config, f"{down}:{script.revision}", sql=True)
    else:
        command.upgrade(config, script.revision, sql=True)
    header = "".join(
        f"-- squawk-ignore-file {rule}\n-- reason: {reason}\n"
        for rule, reason in exceptions(script).items()
    )
    return header + buffer.getvalue()


def main(out_dir: Path, ini: Path) -> int:
    os.environ["DATABASE_URL"] = RENDER_URL
    # load_settings wants one with DATABASE_URL; rendering SQL signs nothing.
    os.environ["SECRET_KEY"] = "migration-lint-renders-sql-and-signs-nothing"  # noqa: S105
    os.environ.pop("DB_SECRET_ARN", None)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.sql"):  # from an earlier run, or revisions since removed
        stale.unlink()
    scripts = ScriptDirectory.from_config(migrate.alembic_config(ini))
    files = []
    for script in reversed(list(scripts.walk_revisions())):  # oldest first
        path = out_dir / f"{script.revision}.sql"
        path.write_text(revision_sql(ini, script))
        files.append(str(path))
    squawk = shutil.which("squawk", path=str(Path(sys.executable).parent))
    if squawk is None:
        raise SystemExit("squawk is not installed in the venv (ci/bootstrap installs squawk-cli)")
    print(f"squawk: {len(files)} revision(s) rendered to {out_dir}", file=sys.stderr)
    return subprocess.run(
        [squawk, "--config", str(ROOT / ".squawk.toml"), *files], check=False
    ).returncode


if __name__ == "__main__":
    sys.exit(
        main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "alembic.ini"))
    )
