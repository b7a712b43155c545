"""Every allowed and every forbidden move, each guard, each timestamp rule."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from incident_tracker.incidents.lifecycle import (
    ALLOWED_MOVES,
    AdminRequired,
    GuardFailed,
    IllegalTransition,
    Status,
    apply_move,
    check_move,
)
from tests.support.lifecycle import API_TABLE

GUARD_ARGS = {"reason": "duplicate", "resolution_summary": "rolled back"}
T0 = datetime(2026, 11, 22, 4, 20, tzinfo=UTC)


@dataclass
class FakeIncident:
    status: Status
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    canceled_at: datetime | None = None
    resolution_summary: str | None = None
    cancel_reason: str | None = None
    reopen_count: int = 0


def test_table_matches_the_contract() -> None:
    assert {
        s.value: {t.value for t in targets} for s, targets in ALLOWED_MOVES.items()
    } == API_TABLE


@pytest.mark.parametrize(
    ("source", "target"),
    [(s, t) for s, targets in API_TABLE.items() for t in sorted(targets)],
)
def test_allowed_move(source: str, target: str) -> None:
    move = check_move(Status(source), Status(target), is_admin=True, **GUARD_ARGS)
    assert (move.source, move.target) == (Status(source), Status(target))


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (s.value, t.value)
        for s, t in itertools.product(Status, Status)
        if t.value not in API_TABLE[s.value]
    ],
)
def test_forbidden_move(source: str, target: str) -> None:
    with pytest.raises(IllegalTransition, match=rf"^cannot move from {source} to {target}$"):
        check_move(Status(source), Status(target), is_admin=True, **GUARD_ARGS)


@pytest.mark.parametrize("summary", [None, "", "   "])
def test_resolving_needs_a_summary(summary: str | None) -> None:
    with pytest.raises(GuardFailed) as failure:
        check_move(
            Status.INVESTIGATING,
            Status.RESOLVED,
            reason=None,
            resolution_summary=summary,
            is_admin=False,
        )
    assert failure.value.field == "resolution_summary"
    assert str(failure.value) == "required and non-empty to resolve an incident"  # the 422 detail


@pytest.mark.parametrize("reason", [None, "", "\t"])
def test_canceling_needs_a_reason(reason: str | None) -> None:
    with pytest.raises(GuardFailed) as failure:
        check_move(
            Status.TRIAGE, Status.CANCELED, reason=reason, resolution_summary=None, is_admin=False
        )
    assert failure.value.field == "reason"
    assert str(failure.value) == "required and non-empty to cancel an incident"


def test_reopening_closed_needs_admin() -> None:
    with pytest.raises(AdminRequired, match=r"^reopening a closed incident needs the admin scope$"):
        check_move(
            Status.CLOSED,
            Status.INVESTIGATING,
            reason=None,
            resolution_summary=None,
            is_admin=False,
        )
    check_move(
        Status.RESOLVED, Status.INVESTIGATING, reason=None, resolution_summary=None, is_admin=False
    )


def _walk(incident: FakeIncident, *targets: Status) -> list[datetime]:
    times = []
    for step, target in enumerate(targets, start=1):
        now = T0 + timedelta(minutes=step)
        move = check_move(incident.status, target, is_admin=True, **GUARD_ARGS)
        apply_move(incident, move, now, **GUARD_ARGS)
        times.append(now)
    return times


def test_first_move_out_of_triage_acknowledges_once() -> None:
    incident = FakeIncident(Status.TRIAGE)
    t1, _t2 = _walk(incident, Status.INVESTIGATING, Status.IDENTIFIED)
    assert incident.acknowledged_at == t1


def test_monitoring_sets_mitigated_once_and_resolved_keeps_it() -> None:
    incident = FakeIncident(Status.TRIAGE)
    _t1, t2, _t3, t4 = _walk(
        incident, Status.INVESTIGATING, Status.MONITORING, Status.IDENTIFIED, Status.RESOLVED
    )
    assert incident.mitigated_at == t2
    assert incident.resolved_at == t4
    assert incident.resolution_summary == "rolled back"


def test_resolving_directly_sets_mitigated_and_resolved() -> None:
    incident = FakeIncident(Status.TRIAGE)
    (t1,) = _walk(incident, Status.RESOLVED)
    assert incident.acknowledged_at == incident.mitigated_at == incident.resolved_at == t1


def test_close_and_cancel_timestamps() -> None:
    closed = FakeIncident(Status.TRIAGE)
    times = _walk(closed, Status.RESOLVED, Status.CLOSED)
    assert closed.closed_at == times[1] and closed.status is Status.CLOSED
    canceled = FakeIncident(Status.TRIAGE)
    (t1,) = _walk(canceled, Status.CANCELED)
    assert canceled.canceled_at == t1 and canceled.cancel_reason == "duplicate"


def test_reopen_clears_mitigation_resolution_and_closure() -> None:
    incident = FakeIncident(Status.TRIAGE)
    times = _walk(incident, Status.RESOLVED, Status.CLOSED, Status.INVESTIGATING)
    assert incident.status is Status.INVESTIGATING
    assert (incident.mitigated_at, incident.resolved_at, incident.closed_at) == (None, None, None)
    assert incident.reopen_count == 1
    assert incident.acknowledged_at == times[0]
    _walk(incident, Status.RESOLVED, Status.INVESTIGATING)
    assert incident.reopen_count == 2


@pytest.mark.parametrize(
    ("target", "field", "expected"),
    [
        (Status.RESOLVED, "resolution_summary", "rolled back"),
        (Status.CANCELED, "cancel_reason", "duplicate"),
    ],
)
def test_summary_and_reason_are_stored_trimmed(target: Status, field: str, expected: str) -> None:
    padded = {"reason": " \tduplicate\n ", "resolution_summary": "  rolled back  "}
    incident = FakeIncident(Status.TRIAGE)
    apply_move(incident, check_move(Status.TRIAGE, target, is_admin=False, **padded), T0, **padded)
    assert getattr(incident, field) == expected
