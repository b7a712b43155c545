"""API tokens' pure rules: durations, hashes and the per-process cache of checked tokens."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from incident_tracker.auth.identity import Identity
from incident_tracker.auth.service import TokenCache, TokenError, hash_token, parse_duration
from incident_tracker.core.database import utcnow

READER = Identity("reader", frozenset({"incidents:read"}), 1)


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        (" 7d\n", timedelta(days=7)),
        ("999999m", timedelta(minutes=999_999)),
    ],
)
def test_a_duration_is_a_count_and_a_unit(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "30", "d", "30s", "1.5d", "-1d", "1000000m", "30d7"])
def test_a_malformed_duration_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(TokenError) as refused:
        parse_duration(text)
    assert str(refused.value) == f"expected a duration like 30d, 12h, 90m or 2w, got {text!r}"


def test_a_token_is_stored_as_its_sha256() -> None:
    assert hash_token("itk_x") == hashlib.sha256(b"itk_x").hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_keeps_a_checked_token_until_its_recheck_time() -> None:
    clock = Clock()
    cache = TokenCache(5, clock)
    assert cache.get("h") is None
    cache.put("h", READER, None)
    clock.now += 4.99
    assert cache.get("h") is READER
    clock.now += 0.01
    assert cache.get("h") is None
    clock.now -= 5  # dropped, not only stale
    assert cache.get("h") is None


def test_a_stale_entry_another_thread_drops_meanwhile_is_no_error() -> None:
    """Two threads find one stale entry at once: the first to pop it leaves nothing for the
    other. Here the clock drops the entry, as the other thread would, when asked the time."""
    clock = Clock()
    cache = TokenCache(5, clock)

    def other_thread_drops_it_first() -> float:
        cache.forget("h")
        return clock()

    cache.put("h", READER, None)
    clock.now += 5
    cache.clock = other_thread_drops_it_first
    assert cache.get("h") is None


def test_the_cache_never_outlives_the_tokens_own_expiry() -> None:
    cache = TokenCache(60, Clock())
    cache.put("expired", READER, utcnow())
    cache.put("valid", READER, utcnow() + timedelta(minutes=1))
    assert cache.get("expired") is None
    assert cache.get("valid") is READER


def test_a_cache_of_zero_seconds_keeps_nothing_and_forget_drops_one() -> None:
    off = TokenCache(0, Clock())
    off.put("h", READER, None)
    assert off.get("h") is None
    cache = TokenCache(5, Clock())
    cache.put("h", READER, None)
    cache.put("other", READER, None)
    cache.forget("h")
    cache.forget("never cached")
    assert (cache.get("h"), cache.get("other")) == (None, READER)


def test_a_full_cache_starts_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenCache, "MAX_ENTRIES", 3)
    cache = TokenCache(5, Clock())
    for name in ("a", "b", "c"):
        cache.put(name, READER, None)
    assert [cache.get(name) for name in ("a", "b", "c")] == [READER] * 3
    cache.put("d", READER, None)
    assert [cache.get(name) for name in ("a", "b", "c", "d")] == [None, None, None, READER]


def test_a_cache_of_one_second_keeps_a_token_for_that_second() -> None:
    clock = Clock()
    cache = TokenCache(1, clock)
    cache.put("h", READER, None)
    clock.now += 0.99
    assert cache.get("h") is READER
