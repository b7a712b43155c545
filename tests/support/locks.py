"""Races provoked on purpose: a call held up by another session's row lock, watched from outside."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from incident_tracker.core.database import db
from tests.support.programs import wait_for

T = TypeVar("T")


def someone_waits_on_a_lock() -> bool:
    """Some session of this database waits for a lock (seen outside any snapshot); needs the
    app context."""
    with db.engine.connect() as connection:
        waiting = connection.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
        )
    return bool(waiting)


class Racing(Generic[T]):
    """`call` run in a thread of its own, started at once; its answer or error kept."""

    def __init__(self, call: Callable[[], T]) -> None:
        self._call = call
        self._answer: list[T] = []
        self._error: list[BaseException] = []
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._answer.append(self._call())
        except BaseException as error:  # handed to the test by answer()
            self._error.append(error)

    @property
    def answered(self) -> bool:
        return not self.thread.is_alive()

    def wait_until_it_waits_on_a_lock(self, what: str) -> None:
        """Until it waits on a lock, failing at once if it answers instead of waiting."""
        wait_for(what, lambda: self.answered or someone_waits_on_a_lock())
        assert not self.answered, f"it answered instead of waiting: {what}"

    def answer(self, timeout: float = 30.0) -> T:
        """Its return value once it has finished; its exception raised here."""
        self.thread.join(timeout)
        assert self.answered, f"no answer within {timeout} s"
        if self._error:
            raise self._error[0]
        return self._answer[0]


def answered_after(holder: Session, call: Callable[[], T], what: str) -> T:
    """`call`'s answer, sent while `holder` keeps its writes uncommitted: it must wait on their
    row lock (`what` names the wait), and answers once `holder` commits. Needs the app
    context."""
    racing = Racing(call)
    racing.wait_until_it_waits_on_a_lock(what)
    holder.commit()
    return racing.answer()


def committed_elsewhere(store: Callable[[Session], object]) -> Callable[[], None]:
    """A step for `just_before`: `store` in a session of its own, committed, as another process
    would. Needs the app context."""

    def step() -> None:
        with Session(db.engine) as other:
            store(other)
            other.commit()

    return step


@contextlib.contextmanager
def just_before(marker: str, *steps: Callable[[], object]) -> Iterator[None]:
    """While inside: just before each of the next statements sent on the app's engine that
    contain `marker`, the next of `steps` runs, as another process would at that moment (the
    steps' own statements do not count). Needs the app context."""
    pending = list(steps)
    busy: list[bool] = []

    def run_the_next_step(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if busy or not pending or marker not in statement:
            return
        busy.append(True)
        try:
            pending.pop(0)()
        finally:
            busy.clear()

    sa.event.listen(db.engine, "before_cursor_execute", run_the_next_step)
    try:
        yield
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", run_the_next_step)
    assert not pending, f"fewer statements than steps containing {marker!r}"
