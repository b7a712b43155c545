"""Terraform's .tf files as plain Python values (python-hcl2), for the delivery tests."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import hcl2


def _clean(value: Any) -> Any:
    """python-hcl2 8.x keeps the quotes of strings and keys and adds __comments__ and
    __is_block__ markers; strip them so the tests compare plain values."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def _parsed(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return _clean(hcl2.load(handle))  # type: ignore[no-any-return]


def load(path: Path) -> dict[str, Any]:
    """A parsed .tf file (parsing is slow: each file once per run, copies handed out)."""
    return copy.deepcopy(_parsed(path))
