"""Mutation testing of the rule modules with mutmut 3, one module at a time.

    python ci/mutation.py [--changed-since REF] [--min-score PERCENT] [MODULE...]
    (entry point: ci/mutation, which provides the test PostgreSQL)

The rule modules are `[tool.mutmut] only_mutate` in pyproject.toml, each with its own test
files in `[tool.mutmut.module_tests]`: adding one is a line in each. Each module is its own
mutmut run (ci/mutation_module.py) over those test files only, under `nice -n 10`, from a
fresh mutants/ copy. MODULE narrows the run (a path or dotted name); --changed-since REF
keeps the rule modules that `git diff REF...HEAD` touches (a pull request's run), and none
is a pass.
Survivors of functions a module runs at import ([tool.mutmut.built_at_import]) are tested
again, each in a fresh pytest process (rerun_built_at_import says why).
Writes reports/mutation/<module>.txt (every surviving mutant with its diff) and
reports/mutation/summary.json; prints each module's score and wall time. Survivors that
docs/testing.md names (equivalent mutants, with why) do not count against the score;
exit 1 when a module scores below --min-score.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports" / "mutation"
EQUIVALENTS_DOC = ROOT / "docs" / "testing.md"
ONE_MODULE = ROOT / "ci" / "mutation_module.py"
# Below the other work on a shared machine: a mutation run is hours of CPU nobody waits on.
NICE = ["nice", "-n", "10"]
# mutmut's statuses that count as caught: a test failed, ran past its time, or mypy refused it;
# and ours for a survivor of a function run at import that fails its tests in a fresh process.
KILLED_FRESH = "killed in a fresh process"
CAUGHT = {"killed", "timeout", "caught by type check", KILLED_FRESH}


@dataclass
class ModuleScore:
    module: str
    mutants: int
    caught: int
    equivalent: list[str]
    survivors: list[str]
    statuses: dict[str, int]
    seconds: float
    score: float = field(init=False)

    def __post_init__(self) -> None:
        counted = self.mutants - len(self.equivalent)
        self.score = round(100.0 * self.caught / counted, 1) if counted else 100.0


def mutmut_settings() -> dict[str, Any]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    settings: dict[str, Any] = pyproject["tool"]["mutmut"]
    return settings


def rule_modules() -> list[str]:
    """The source paths mutmut mutates, as pyproject.toml lists them."""
    paths: list[str] = mutmut_settings()["only_mutate"]
    return paths


def dotted(path: str) -> str:
    """src/incident_tracker/core/pagination.py -> incident_tracker.core.pagination"""
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def select(modules: list[str], wanted: list[str], changed_since: str | None) -> list[str]:
    chosen = [m for m in modules if not wanted or m in wanted or dotted(m) in wanted]
    unknown = sorted(set(wanted) - set(chosen) - {dotted(m) for m in chosen})
    if unknown:
        raise SystemExit(f"not a rule module (pyproject.toml [tool.mutmut] only_mutate): {unknown}")
    if changed_since is not None and not _is_commit(changed_since):
        # A checkout without the base branch (a shallow or PR-only fetch): testing every
        # rule module is slower but misses nothing.
        print(f"mutation: {changed_since} is not in this checkout: testing every rule module")
    elif changed_since is not None:
        diff = subprocess.run(
            ["git", "diff", "--name-only", f"{changed_since}...HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        chosen = [m for m in chosen if m in diff]
    return chosen


def _is_commit(ref: str) -> bool:
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


def documented_equivalents() -> set[str]:
    """Mutant names listed in docs/testing.md's table of equivalent mutants."""
    if not EQUIVALENTS_DOC.exists():
        return set()
    names = set()
    for line in EQUIVALENTS_DOC.read_text().splitlines():
        if not (line.startswith("| `") and "__mutmut_" in line):
            continue
        # A row may name several: `module.x_f__mutmut_35`, `_39`; `x_g__mutmut_33`.
        name = ""
        for written in line.split("|")[1].split("`")[1::2]:
            if written.startswith("_"):  # another mutant of the same function
                name = name[: name.rindex("_")] + written
            elif written.startswith("x"):  # a mutant of another function of the module
                name = name[: name.rindex(".x") + 1] + written
            else:
                name = written
            names.add(name)
    return names


def mutmut(path: str, *args: str) -> list[str]:
    """The command line of `mutmut ARGS` narrowed to the rule module at path."""
    return [*NICE, sys.executable, str(ONE_MODULE), path, *args]


def mutmut_output(path: str, *args: str) -> str:
    result = subprocess.run(
        mutmut(path, *args), cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"mutmut {' '.join(args)} failed with exit status {result.returncode}")
    return result.stdout


def statuses_of(path: str, module: str) -> dict[str, str]:
    """Every mutant of the module and its status, from `mutmut results --all true`."""
    found = {}
    for line in mutmut_output(path, "results", "--all", "true").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith(f"{module}.") and "__mutmut_" in name:
            found[name] = status
    return found


def built_at_import(module: str) -> dict[str, list[str]]:
    """pyproject.toml's [tool.mutmut.built_at_import] for this module: each function it calls
    while it is imported, as the prefix of its mutants' names, and the tests of what it builds.
    """
    table: dict[str, list[str]] = mutmut_settings().get("built_at_import", {})
    return {
        f"{module}.x_{name.removeprefix(module + '.')}__mutmut_": tests
        for name, tests in table.items()
        if name.startswith(f"{module}.")
    }


def fresh_pytest(mutant: str | None, tests: list[str]) -> int:
    """pytest over the mutated copy in a new process, `mutant` switched on before any import."""
    environment = {**os.environ, "PYTHONPATH": "src", "MUTANT_UNDER_TEST": mutant or ""}
    command = [*NICE, sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    quiet = subprocess.DEVNULL if mutant else None  # the clean run shows why it failed
    return subprocess.run(
        [*command, *tests],
        cwd=ROOT / "mutants",
        env=environment,
        stdout=quiet,
        stderr=quiet,
        check=False,
    ).returncode


def rerun_built_at_import(module: str, statuses: dict[str, str]) -> None:
    """Test the survivors of functions run at import again, each in a fresh process.

    mutmut imports the module once, before any mutant is switched on, and forks every mutant's
    tests from there: what a function built at import stays the original, so its mutants
    survive whatever the tests assert. The same tests pass without a mutant first, so any
    other exit is the mutant's doing: 1 a test failed, 2 to 4 it broke the import of the app
    or its tests (the service would not start). Each is a kill.
    """
    for prefix, tests in built_at_import(module).items():
        survivors = [n for n, s in statuses.items() if n.startswith(prefix) and s == "survived"]
        if not survivors:
            continue
        if fresh_pytest(None, tests) != 0:
            raise SystemExit(f"{tests} fail without a mutant: fix them before measuring")
        for name in survivors:
            if fresh_pytest(name, tests) != 0:
                statuses[name] = KILLED_FRESH
            print(f"fresh process: {name}: {statuses[name]}", flush=True)


def run_module(path: str, equivalents: set[str]) -> ModuleScore:
    module = dotted(path)
    print(f"==> mutmut run {module}.*", flush=True)
    # mutmut works in a copy of the tree under mutants/; a stale copy could hide changes it
    # does not track (the migrations, the README) or hold another module's mutants.
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    started = time.monotonic()
    # Output goes to the terminal: a run takes minutes and mutmut shows its progress. One
    # mutant at a time: the integration tests of two would share, and empty, one database.
    subprocess.run(
        mutmut(path, "run", "--max-children", "1", f"{module}.*"),
        cwd=ROOT,
        check=True,
    )
    statuses = statuses_of(path, module)
    rerun_built_at_import(module, statuses)
    seconds = round(time.monotonic() - started, 1)
    survivors = sorted(n for n, s in statuses.items() if s not in CAUGHT and n not in equivalents)
    score = ModuleScore(
        module=module,
        mutants=len(statuses),
        caught=sum(s in CAUGHT for s in statuses.values()),
        equivalent=sorted(n for n in statuses if n in equivalents and statuses[n] not in CAUGHT),
        survivors=survivors,
        statuses=dict(Counter(statuses.values())),
        seconds=seconds,
    )
    lines = [
        f"{module}: {score.score} % caught ({score.caught} of {score.mutants} mutants; "
        f"{len(score.equivalent)} documented as equivalent), {seconds} s",
        f"statuses: {score.statuses}",
        "",
    ]
    for name in survivors:
        lines += [f"--- {statuses[name]}: {name}", mutmut_output(path, "show", name), ""]
    (REPORTS / f"{module}.txt").write_text("\n".join(lines))
    return score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="rule modules to run (default: all)")
    parser.add_argument("--changed-since", metavar="REF", help="only modules REF...HEAD touches")
    parser.add_argument("--min-score", type=float, default=90.0, metavar="PERCENT")
    args = parser.parse_args()
    chosen = select(rule_modules(), args.modules, args.changed_since)
    if not chosen:
        print("mutation: no rule module to test (none changed)")
        return 0
    REPORTS.mkdir(parents=True, exist_ok=True)
    equivalents = documented_equivalents()
    scores = [run_module(path, equivalents) for path in chosen]
    summary = REPORTS / "summary.json"
    previous = json.loads(summary.read_text()) if summary.exists() else {}
    summary.write_text(
        json.dumps({**previous, **{s.module: asdict(s) for s in scores}}, indent=2) + "\n"
    )
    print("\nmutation score (caught / mutants not documented as equivalent):")
    for s in scores:
        print(f"  {s.score:5.1f} %  {s.module}  ({s.caught}/{s.mutants}, {s.seconds} s)")
        for name in s.survivors:
            print(f"           survived: {name}")
    total = sum(s.mutants - len(s.equivalent) for s in scores)
    caught = sum(s.caught for s in scores)
    overall = 100.0 * caught / max(total, 1)
    print(f"  {overall:5.1f} %  all ({caught}/{total}); report: {REPORTS.relative_to(ROOT)}/")
    below = [s.module for s in scores if s.score < args.min_score]
    if below:
        print(f"below {args.min_score} %: {below}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
