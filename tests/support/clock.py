"""A service module's clock set apart from every other, so a test sees which clock a time came
from."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import ModuleType

import pytest

from incident_tracker.core.database import utcnow


def clock_an_hour_ahead(module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Freeze `module.utcnow` an hour ahead and return that time: a time taken anywhere else (a
    model's column default, another module) differs from it, even at whole seconds."""
    later = utcnow() + timedelta(hours=1)
    monkeypatch.setattr(module, "utcnow", lambda: later)
    return later
