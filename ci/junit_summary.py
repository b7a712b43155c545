"""JUnit XML files as a Markdown summary: totals per file and the failing cases.

    python ci/junit_summary.py [TITLE=]FILE...   (entry point: ci/junit-summary)

Appends to $GITHUB_STEP_SUMMARY when set (the job summary page), else prints. It reports,
it does not gate: the step that produced the XML already failed the job if tests failed.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

MAX_FAILURES = 50


@dataclass
class Totals:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


def read(path: Path) -> Totals:
    root = ET.parse(path).getroot()  # noqa: S314 (our own test reports)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    totals = Totals()
    for suite in suites:
        totals.tests += int(suite.get("tests", 0))
        totals.failures += int(suite.get("failures", 0))
        totals.errors += int(suite.get("errors", 0))
        totals.skipped += int(suite.get("skipped", 0))
        totals.seconds += float(suite.get("time", 0) or 0)
        for case in suite.iter("testcase"):
            problem = case.find("failure")
            if problem is None:
                problem = case.find("error")
            if problem is not None:
                message = (problem.get("message") or "").strip().splitlines()
                name = f"{case.get('classname', '')}::{case.get('name', '')}".strip(":")
                totals.failed.append(f"{name}: {message[0] if message else problem.tag}")
    return totals


def markdown(reports: list[tuple[str, Path]]) -> str:
    lines = [
        "| report | tests | failed | errors | skipped | time |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    failures: list[str] = []
    for title, path in reports:
        if not path.is_file():
            lines.append(f"| {title} | no report ({path}) | | | | |")
            continue
        t = read(path)
        mark = "❌" if t.failures or t.errors else "✅"
        lines.append(
            f"| {mark} {title} | {t.tests} | {t.failures} | {t.errors} | {t.skipped} "
            f"| {t.seconds:.1f} s |"
        )
        failures += [f"- `{title}` {case}" for case in t.failed]
    if failures:
        lines += ["", f"**Failing ({len(failures)})**", "", *failures[:MAX_FAILURES]]
        if len(failures) > MAX_FAILURES:
            lines.append(f"- … and {len(failures) - MAX_FAILURES} more")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = argv or ["reports/junit.xml"]
    reports = []
    for arg in args:
        title, sep, path = arg.partition("=")
        reports.append((title, Path(path)) if sep else (Path(arg).stem, Path(arg)))
    text = markdown(reports)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
