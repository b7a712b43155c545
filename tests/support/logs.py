"""What a module logs, captured whatever earlier tests did with its logger."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs


@contextlib.contextmanager
def logs_of(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """The entries `module.log` writes meanwhile. configure_logging sets
    cache_logger_on_first_use, so a logger an earlier test (or an earlier run in this process,
    as under mutmut) used keeps the processors of that time and would bypass the capture: a
    new logger of the same name stands in for the test."""
    with capture_logs() as logs:
        monkeypatch.setattr(module, "log", structlog.get_logger(module.__name__))
        yield logs
