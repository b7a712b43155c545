"""MTTA/MTTR computed in SQL on SQLite (the embedded default) equal their definition."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from incident_tracker.core.severity import Severity
from incident_tracker.incidents import service
from incident_tracker.incidents.lifecycle import Status
from incident_tracker.incidents.models import Incident
from tests.support.metrics import WINDOW_END, WINDOW_START, reference_stats, seed_incidents


@pytest.fixture
def sqlite_session() -> Iterator[Session]:
    engine = sa.create_engine("sqlite://")
    Incident.__table__.create(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def _groups(session: Session) -> dict[str, Any]:
    result = service.incident_metrics(session, WINDOW_START, WINDOW_END, "severity")
    return {
        group.key: {
            "count": group.count,
            "mtta_seconds": asdict(group.mtta_seconds),
            "mttr_seconds": asdict(group.mttr_seconds),
        }
        for group in result.groups
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sqlite_metrics_equal_the_definition(sqlite_session: Session, seed: int) -> None:
    expected = seed_incidents(sqlite_session, seed)
    assert _groups(sqlite_session) == expected


def test_percentiles_interpolate_like_percentile_cont(sqlite_session: Session) -> None:
    declared = WINDOW_START + timedelta(days=1)
    for minutes in (10, 20, 30, 40):
        sqlite_session.add(
            Incident(
                title="t",
                severity=Severity.SEV2,
                status=Status.INVESTIGATING,
                service="checkout",
                reporter="test",
                tags=[],
                started_at=declared,
                declared_at=declared,
                acknowledged_at=declared + timedelta(seconds=minutes),
                created_at=declared,
                updated_at=declared,
            )
        )
    sqlite_session.commit()
    group = _groups(sqlite_session)["SEV2"]
    assert group == {
        "count": 4,
        "mtta_seconds": {"mean": 25.0, "p50": 25.0, "p90": 37.0},
        "mttr_seconds": {"mean": None, "p50": None, "p90": None},
    }
    assert reference_stats([10.0, 20.0, 30.0, 40.0]) == group["mtta_seconds"]
