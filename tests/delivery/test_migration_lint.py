"""ci/migration-lint: squawk on every revision's rendered SQL, and what it must refuse.

Each refusal is planted as a new revision in a copy of migrations/ and must fail the step,
naming the rule; the repository's own revisions pass (their exceptions carry reasons).
Rules: https://squawkhq.com/docs/rules (squawk-cli on PyPI: https://pypi.org/project/squawk-cli/)
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from incident_tracker import migrate
from tests.support.steps import ROOT, run_ci_step

HEAD = migrate.schema_head(ROOT / "alembic.ini")


def test_every_revision_passes_and_sets_its_timeouts() -> None:
    result = run_ci_step("migration-lint", timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    rendered = sorted((ROOT / "reports" / "migration-sql").glob("*.sql"))
    assert {path.stem for path in rendered} >= {HEAD}
    for path in rendered:
        sql = path.read_text()
        assert "SET lock_timeout = '3s';" in sql and "SET statement_timeout" in sql, path


def plant(tmp_path: Path, body: str, extra: str = "") -> Path:
    """A copy of alembic.ini and migrations/ with one more revision after HEAD."""
    tmp_path.mkdir(exist_ok=True)
    shutil.copy(ROOT / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(ROOT / "migrations", tmp_path / "migrations")
    (tmp_path / "migrations" / "versions" / "29991231_9999_planted.py").write_text(
        f'''"""Planted by tests/delivery/test_migration_lint.py."""

from alembic import op

revision = "9999_planted"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None
{extra}

def upgrade() -> None:
    op.execute("""{body}""")


def downgrade() -> None:
    pass
'''
    )
    return tmp_path / "alembic.ini"


@pytest.mark.parametrize(
    ("statement", "rule"),
    [
        ("ALTER TABLE incidents DROP COLUMN summary", "ban-drop-column"),
        ("DROP TABLE incident_events", "ban-drop-table"),
        ("ALTER TABLE incidents RENAME COLUMN summary TO description", "renaming-column"),
        ("ALTER TABLE incidents RENAME TO majors", "renaming-table"),
        ("ALTER TABLE incidents ADD COLUMN team text NOT NULL", "adding-required-field"),
        (
            "CREATE INDEX ix_incidents_team ON incidents (service)",
            "require-concurrent-index-creation",
        ),
    ],
)
def test_a_revision_that_breaks_the_running_release_fails(
    tmp_path: Path, statement: str, rule: str
) -> None:
    result = run_ci_step("migration-lint", str(plant(tmp_path, statement)), timeout=300)
    assert result.returncode != 0
    assert rule in result.stdout + result.stderr


def test_an_exception_needs_a_reason(tmp_path: Path) -> None:
    statement = "DROP TABLE incident_events"
    with_reason = 'squawk_ignore = {"ban-drop-table": "contract step: 1.4 stopped reading it"}\n'
    accepted = run_ci_step("migration-lint", str(plant(tmp_path / "a", statement, with_reason)))
    assert accepted.returncode == 0, accepted.stdout[-2000:]
    without = 'squawk_ignore = {"ban-drop-table": " "}\n'
    result = run_ci_step("migration-lint", str(plant(tmp_path / "b", statement, without)))
    assert result.returncode != 0
    assert "needs a reason" in result.stderr


def test_a_migration_without_timeouts_fails(tmp_path: Path) -> None:
    ini = plant(tmp_path, "ALTER TABLE incidents ADD COLUMN team text")
    env_py = tmp_path / "migrations" / "env.py"
    source = env_py.read_text()
    assert "for statement in timeout_statements():" in source
    env_py.write_text(
        source.replace("for statement in timeout_statements():", "for statement in []:")
    )
    result = run_ci_step("migration-lint", str(ini), timeout=300)
    assert result.returncode != 0
    assert "require-lock-timeout" in result.stdout
    assert "require-statement-timeout" in result.stdout
