"""`mutmut ARGS` narrowed to one rule module: only its mutants, only its own tests.

    python ci/mutation_module.py SOURCE_PATH ARGS...   (called by ci/mutation.py)

mutmut reads its settings from pyproject.toml alone and has one test selection for every
module; this sets `only_mutate` to SOURCE_PATH and the test selection to its line of
`[tool.mutmut.module_tests]` on mutmut's own settings object before its command line runs.
The tests' process forks from this one, so every mutant sees the same narrowed settings.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from mutmut.__main__ import cli
from mutmut.configuration import config

ROOT = Path(__file__).resolve().parents[1]


def module_tests() -> dict[str, list[str]]:
    """Each rule module's own test files, as pyproject.toml's [tool.mutmut.module_tests]."""
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    tests: dict[str, list[str]] = settings["module_tests"]
    missing = sorted(set(settings["only_mutate"]) - set(tests))
    if missing:
        raise SystemExit(f"pyproject.toml [tool.mutmut.module_tests] has no line for {missing}")
    return tests


def main(source_path: str, mutmut_args: list[str]) -> None:
    settings = config()
    settings.only_mutate = [source_path]
    settings.pytest_add_cli_args_test_selection = module_tests()[source_path]
    cli.main(args=mutmut_args, prog_name="mutmut")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
