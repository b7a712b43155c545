"""ci/mutation: which rule modules it tests, and that a pull request touching none passes.

The mutation run itself takes minutes per module (docs/testing.md has the figures); these
check the selection, which decides what a pull request's run covers.
"""

from __future__ import annotations

import ast
import os
import runpy
from typing import Any

from tests.support.steps import ROOT, run_ci_step

# The rule modules the issue names; the list in pyproject.toml may grow, never lose one.
RULE_MODULES = {
    "src/incident_tracker/incidents/lifecycle.py",
    "src/incident_tracker/incidents/service.py",
    "src/incident_tracker/incidents/stats.py",
    "src/incident_tracker/incidents/export.py",
    "src/incident_tracker/core/pagination.py",
    "src/incident_tracker/auth/service.py",
    "src/incident_tracker/auth/guard.py",
    "src/incident_tracker/integrations/service.py",
    "src/incident_tracker/webhooks/service.py",
    "src/incident_tracker/changes/service.py",
}
# Never in a module's test selection: they drive other processes, which never see a mutant
# (real monitoring), lint imports rather than behaviour (layers), or send thousands of
# generated requests per mutant to assert only "no 500, the schema holds" (fuzz).
NOT_FOR_MUTATION = {
    "tests/integration/test_real_monitoring.py",
    "tests/unit/test_layers.py",
    "tests/integration/test_fuzz.py",
}
# No database is needed to decide that there is nothing to test.
NO_DATABASE = {**os.environ, "TEST_DATABASE_URL": "postgresql://unused@127.0.0.1:9/none"}


# ci/mutation.py's own readers of pyproject.toml and namer of modules, not copies of them.
MUTATION: dict[str, Any] = runpy.run_path(str(ROOT / "ci" / "mutation.py"))


def mutmut_settings() -> dict[str, Any]:
    settings: dict[str, Any] = MUTATION["mutmut_settings"]()
    return settings


def only_mutate() -> list[str]:
    modules: list[str] = MUTATION["rule_modules"]()
    return modules


def test_every_rule_module_is_mutated_and_exists() -> None:
    modules = only_mutate()
    assert set(modules) >= RULE_MODULES
    assert len(modules) == len(set(modules))
    assert all((ROOT / module).is_file() for module in modules), modules


def test_every_rule_module_has_its_own_tests_and_no_slow_irrelevant_ones() -> None:
    module_tests: dict[str, list[str]] = mutmut_settings()["module_tests"]
    assert set(module_tests) == set(only_mutate())
    for module, tests in module_tests.items():
        assert tests, module
        # A file, a test in it (path::name), or --deselect=path::name.
        files = {test.removeprefix("--deselect=").partition("::")[0] for test in tests}
        assert all((ROOT / file).is_file() for file in files), (module, tests)
        assert not files & NOT_FOR_MUTATION, (module, tests)
        for test in tests:  # pytest ignores a --deselect that names nothing
            file, _, name = test.removeprefix("--deselect=").partition("::")
            assert not name or f"def {name}(" in (ROOT / file).read_text(), test
    whole_run = mutmut_settings()["pytest_add_cli_args_test_selection"]
    assert {f"--ignore={test}" for test in NOT_FOR_MUTATION} <= set(whole_run)


def test_a_change_touching_no_rule_module_tests_nothing_and_passes() -> None:
    result = run_ci_step("mutation", "--changed-since", "HEAD", env=NO_DATABASE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no rule module to test" in result.stdout


def test_a_module_that_is_not_a_rule_module_is_refused_by_name() -> None:
    result = run_ci_step("mutation", "incident_tracker.web.views", env=NO_DATABASE)
    assert result.returncode != 0
    assert "incident_tracker.web.views" in result.stderr and "only_mutate" in result.stderr


def calls_at_import(module: str) -> set[str]:
    """The module's own functions its top level calls while it is imported."""
    tree = ast.parse((ROOT / module).read_text())
    own = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    return {
        node.value.func.id
        for node in tree.body
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in own
    }


def test_every_function_a_rule_module_runs_at_import_is_tested_again_in_a_fresh_process() -> None:
    """mutmut forks every mutant's tests from a process that imported the module with no
    mutant on, so a function run at import keeps its original result: without a line in
    [tool.mutmut.built_at_import] its mutants survive whatever the tests assert."""
    listed: dict[str, list[str]] = mutmut_settings()["built_at_import"]
    expected = {
        f"{MUTATION['dotted'](module)}.{name}"
        for module in only_mutate()
        for name in calls_at_import(module)
    }
    assert set(listed) == expected
    for tests in listed.values():
        assert tests and all((ROOT / test).is_file() for test in tests), tests


def test_every_mutant_a_row_of_the_equivalents_table_names_is_counted_as_equivalent() -> None:
    """A row may name several mutants in short: `module.x_f__mutmut_35`, `_39`; `x_g__mutmut_33`."""
    documented = MUTATION["documented_equivalents"]()
    service = "incident_tracker.incidents.service"
    assert {
        f"{service}.x__duration_stats__mutmut_45",
        f"{service}.x__duration_stats__mutmut_47",
        f"{service}.x__seconds_between__mutmut_46",
        f"{service}.x__seconds_between__mutmut_48",
        f"{service}.x__claim_idempotency_key__mutmut_28",
        "incident_tracker.auth.service.xǁTokenCacheǁput__mutmut_1",
    } <= documented
    assert all(name.startswith("incident_tracker.") for name in documented)
    assert all("__mutmut_" in name.rpartition(".")[2] for name in documented)
