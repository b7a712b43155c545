"""The layers hold: core <- domains <- composition, and no test imports a test module.

The source's contracts are import-linter's (`[tool.importlinter]` in pyproject.toml; ci/lint
runs `lint-imports`). These tests plant one import against each rule in a copy of the source
and check that the contracts catch it, so a contract loosened by mistake fails here too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(REPO / "pyproject.toml")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_source_keeps_every_contract() -> None:
    result = _lint_imports(REPO / "src")
    assert result.returncode == 0, result.stdout + result.stderr


PLANTED = {
    "core imports a domain": (
        "core/pagination.py",
        "from incident_tracker.incidents import service as _planted  # noqa: F401\n",
        "Layers",
    ),
    "a domain imports another domain's models": (
        "integrations/service.py",
        "from incident_tracker.incidents.models import Incident as _planted  # noqa: F401\n",
        "integrations: no other domain's models",
    ),
    "changes imports the incidents' models": (
        "changes/service.py",
        "from incident_tracker.incidents.models import Incident as _planted  # noqa: F401\n",
        "changes: no other domain's models",
    ),
    "a views module imports another views module": (
        "web/views.py",
        "from incident_tracker.incidents import views as _planted  # noqa: F401\n",
        "Views modules never import one another",
    ),
    "a rule raises an HTTP problem": (
        "webhooks/service.py",
        "from incident_tracker.core.problem import Problem as _planted  # noqa: F401\n",
        "Rules raise domain exceptions",
    ),
    "core reads the request": (
        "core/database.py",
        "from flask import request as _planted  # noqa: F401\n",
        "Core holds no request state",
    ),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
def test_a_planted_import_against_the_direction_is_caught(planted: str, tmp_path: Path) -> None:
    module, line, contract = PLANTED[planted]
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = src / "incident_tracker" / module
    target.write_text(target.read_text() + "\n" + line)
    result = _lint_imports(src)
    assert result.returncode != 0, f"{planted} went unnoticed:\n{result.stdout}"
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def _is_test_module(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("test_") or leaf == "conftest"


def test_no_test_module_imports_another_test_module() -> None:
    """Shared helpers live in tests/support or in fixtures, never in a test module."""
    graph = grimp.build_graph("tests", include_external_packages=False)
    offenders = sorted(
        f"{importer} imports {imported}"
        for imported in graph.modules
        if _is_test_module(imported)
        for importer in graph.find_modules_that_directly_import(imported)
    )
    assert offenders == []
