"""The token service on PostgreSQL, called directly: the rules the `tokens` CLI and the
Secrets Manager bootstrap rely on (their own tests drive other processes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from incident_tracker.auth import service
from incident_tracker.auth.identity import Identity
from incident_tracker.auth.models import ApiToken
from incident_tracker.core.database import DbSession, db, rfc3339, utcnow
from tests.support.api import sent_statements
from tests.support.clock import clock_an_hour_ahead
from tests.support.locks import answered_after, committed_elsewhere, just_before

VALUE = service.TOKEN_PREFIX + "v" * 43


@pytest.fixture
def session(app: Flask) -> Iterator[DbSession]:
    with app.app_context():
        yield db.session
        db.session.rollback()


def _audit(session: DbSession) -> list[tuple[str, str, str]]:
    rows = session.execute(
        sa.text("SELECT action, entity_id, actor FROM audit_log ORDER BY id")
    ).all()
    return [tuple(row) for row in rows]


def test_a_new_token_is_returned_once_and_stored_as_its_hash(
    session: DbSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = clock_an_hour_ahead(service, monkeypatch)
    token = service.create_token(
        session, "ci.bot@x-1", ["incidents:read", "incidents:read"], "alice"
    )
    assert token.startswith("itk_") and len(token) == len("itk_") + 43
    row = session.scalars(sa.select(ApiToken)).one()
    assert (row.name, row.token_hash, row.scopes) == (
        "ci.bot@x-1",
        service.hash_token(token),
        ["incidents:read"],
    )
    assert row.expires_at is None and row.revoked_at is None
    assert _audit(session) == [("token.create", "ci.bot@x-1", "alice")]
    assert [service.describe(listed) for listed in service.list_tokens(session)] == [
        {
            "name": "ci.bot@x-1",
            "scopes": ["incidents:read"],
            "created_at": rfc3339(later),
            "expires_at": None,
            "last_used_at": None,
            "revoked_at": None,
        }
    ]
    assert service.authenticate(session, token) == Identity(
        "ci.bot@x-1", frozenset({"incidents:read"}), row.id
    )


def test_a_token_with_a_lifetime_expires(session: DbSession) -> None:
    before = utcnow()
    token = service.create_token(session, "short", ["admin"], "alice", timedelta(hours=2))
    row = session.scalars(sa.select(ApiToken)).one()
    assert row.expires_at is not None
    assert before + timedelta(hours=2) <= row.expires_at <= utcnow() + timedelta(hours=2)
    row.expires_at = utcnow()
    session.flush()
    service.RECENT_TOKENS.forget(row.token_hash)
    assert service.authenticate(session, token) is None


@pytest.mark.parametrize(
    ("name", "scopes", "message"),
    [
        ("", ["admin"], "name: 1-100 letters, digits, '.', '_', '@' or '-'"),
        ("-lead", ["admin"], "name: 1-100 letters, digits, '.', '_', '@' or '-'"),
        ("a" * 101, ["admin"], "name: 1-100 letters, digits, '.', '_', '@' or '-'"),
        ("bot\n", ["admin"], "name: 1-100 letters, digits, '.', '_', '@' or '-'"),
        ("bot", [], "scopes: one or more of incidents:read, incidents:write, changes:write, admin"),
        ("bot", ["admin", "root"], "scopes: one or more of " + ", ".join(service.SCOPES)),
    ],
)
def test_a_bad_name_or_scope_is_refused_and_nothing_stored(
    session: DbSession, name: str, scopes: list[str], message: str
) -> None:
    with pytest.raises(service.TokenError) as refused:
        service.create_token(session, name, scopes, "alice")
    assert str(refused.value) == message
    assert not service.any_token_exists(session)


def test_a_name_is_taken_until_its_token_is_revoked(session: DbSession) -> None:
    first = service.create_token(session, "bot", ["admin"], "alice")
    assert service.any_token_exists(session)
    with pytest.raises(service.TokenError, match=r"^a token named 'bot' exists; revoke it first$"):
        service.create_token(session, "bot", ["admin"], "alice")
    service.revoke_token(session, "bot", "bob")
    with pytest.raises(service.TokenError, match=r"^no active token named 'bot'$"):
        service.revoke_token(session, "bot", "bob")
    assert service.authenticate(session, first) is None
    second = service.create_token(session, "bot", ["admin"], "alice")
    assert service.authenticate(session, second) is not None
    assert [(t.name, t.revoked_at is None) for t in service.list_tokens(session)] == [
        ("bot", False),
        ("bot", True),
    ]
    actions = [action for action, _, _ in _audit(session)]
    assert actions == ["token.create", "token.revoke", "token.create"]


def test_tokens_are_listed_by_name(session: DbSession) -> None:
    for name in ("zulu", "alpha", "mike"):
        service.create_token(session, name, ["admin"], "alice")
    assert [token.name for token in service.list_tokens(session)] == ["alpha", "mike", "zulu"]


def test_authenticate_refuses_what_is_not_a_valid_token(session: DbSession) -> None:
    token = service.create_token(session, "bot", ["admin"], "alice")
    for presented in ("", token[4:], token.replace("itk_", "ITK_"), token + "x" * 200, "itk_x"):
        assert service.authenticate(session, presented) is None, presented


def test_last_used_is_recorded_at_most_once_a_minute(session: DbSession) -> None:
    token = service.create_token(session, "bot", ["admin"], "alice")
    row = session.scalars(sa.select(ApiToken)).one()
    service.RECENT_TOKENS.forget(row.token_hash)
    assert service.authenticate(session, token) is not None
    first_use = row.last_used_at
    assert first_use is not None
    service.RECENT_TOKENS.forget(row.token_hash)
    service.authenticate(session, token)
    assert row.last_used_at == first_use
    row.last_used_at = first_use - service.LAST_USED_PRECISION
    session.commit()
    service.RECENT_TOKENS.forget(row.token_hash)
    service.authenticate(session, token)
    assert row.last_used_at > first_use


def test_ensure_token_stores_a_chosen_value_once(session: DbSession) -> None:
    assert service.ensure_token(session, "smoke", VALUE, ["incidents:read"], "deploy") is True
    assert service.ensure_token(session, "smoke", VALUE, ["incidents:read"], "deploy") is False
    replacement = service.TOKEN_PREFIX + "w" * 43
    assert service.ensure_token(session, "smoke", replacement, ["admin"], "deploy") is True
    assert service.authenticate(session, VALUE) is None
    identity = service.authenticate(session, replacement)
    assert identity is not None and identity.scopes == frozenset({"admin"})
    with pytest.raises(service.TokenError) as reused:
        service.ensure_token(session, "smoke", VALUE, ["admin"], "deploy")
    assert str(reused.value) == "that value was used by a token before; give 'smoke' a new one"
    actions = [action for action, _, _ in _audit(session)]
    assert actions == ["token.create", "token.revoke", "token.create"]


@pytest.mark.parametrize("value", ["itk_" + "v" * 42, "xtk_" + "v" * 43, "v" * 47])
def test_ensure_token_refuses_a_value_that_is_not_a_token(session: DbSession, value: str) -> None:
    with pytest.raises(service.TokenError) as refused:
        service.ensure_token(session, "smoke", value, ["admin"], "deploy")
    assert str(refused.value) == "expected itk_ followed by 43+ random characters"
    assert not service.any_token_exists(session)


def test_signing_out_ends_every_web_session_of_the_token(session: DbSession) -> None:
    service.create_token(session, "bot", ["admin"], "alice")
    row = session.scalars(sa.select(ApiToken)).one()
    generation = service.web_session_generation(session, row.id)
    signed_in = service.authenticate_web_session(session, row.id, generation)
    assert signed_in is not None and signed_in.name == "bot"
    assert service.authenticate_web_session(session, row.id + 1, generation) is None
    service.end_web_sessions(session, row.id)
    assert service.web_session_generation(session, row.id) == generation + 1
    assert service.authenticate_web_session(session, row.id, generation) is None
    assert service.authenticate_web_session(session, row.id, generation + 1) is not None
    service.revoke_token(session, "bot", "alice")
    assert service.authenticate_web_session(session, row.id, generation + 1) is None


def test_a_presented_token_of_200_characters_passes_and_a_longer_one_is_refused(
    session: DbSession,
) -> None:
    longest = service.TOKEN_PREFIX + "v" * 196
    too_long = service.TOKEN_PREFIX + "w" * 197
    assert service.ensure_token(session, "longest", longest, ["admin"], "deploy")
    assert service.ensure_token(session, "too-long", too_long, ["admin"], "deploy")
    assert (len(longest), len(too_long)) == (200, 201)
    identity = service.authenticate(session, longest)
    assert identity is not None and identity.name == "longest"
    assert service.authenticate(session, too_long) is None  # stored, but never looked up


def test_what_is_no_token_is_refused_without_a_database_lookup(
    app: Flask, session: DbSession
) -> None:
    with sent_statements(app) as statements:
        for presented in ("", "Bearer", "ITK_" + "v" * 43, service.TOKEN_PREFIX + "v" * 197):
            assert service.authenticate(session, presented) is None, presented
    assert statements == []


def test_a_token_expires_at_its_expiry_instant_cached_or_not(
    session: DbSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = service.create_token(session, "short", ["admin"], "alice", timedelta(hours=2))
    row = session.scalars(sa.select(ApiToken)).one()
    assert service.authenticate(session, token) is not None  # now in this process's cache
    assert row.expires_at is not None
    monkeypatch.setattr(service, "utcnow", lambda: row.expires_at)
    assert service.authenticate(session, token) is None  # the cache knows the expiry
    service.RECENT_TOKENS.forget(row.token_hash)
    assert service.authenticate(session, token) is None  # and so does the lookup


def test_ensure_token_leaves_other_tokens_alone_and_audits_what_it_stored(
    session: DbSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = service.create_token(session, "other", ["incidents:read"], "alice")
    later = clock_an_hour_ahead(service, monkeypatch)
    assert service.ensure_token(session, "smoke", VALUE, ["incidents:read"], "deploy") is True
    assert service.authenticate(session, other) is not None
    row = session.scalars(sa.select(ApiToken).where(ApiToken.name == "smoke")).one()
    assert service.describe(row)["created_at"] == rfc3339(later)
    audit = session.execute(
        sa.text("SELECT action, entity_type, entity_id, actor, after FROM audit_log ORDER BY id")
    ).all()
    assert [tuple(entry[:4]) for entry in audit] == [
        ("token.create", "token", "other", "alice"),
        ("token.create", "token", "smoke", "deploy"),
    ]
    assert audit[1].after == service.describe(row)


def test_a_token_may_hold_every_scope_and_describe_shows_its_times(session: DbSession) -> None:
    token = service.create_token(session, "all", list(service.SCOPES), "alice", timedelta(hours=2))
    assert service.authenticate(session, token) is not None
    row = session.scalars(sa.select(ApiToken)).one()
    assert row.expires_at is not None and row.last_used_at is not None
    described = service.describe(row)
    assert set(described["scopes"]) == set(service.SCOPES)
    assert (described["expires_at"], described["last_used_at"]) == (
        rfc3339(row.expires_at),
        rfc3339(row.last_used_at),
    )


def test_tokens_of_one_name_are_listed_oldest_first_whatever_the_physical_order(
    session: DbSession,
) -> None:
    """On PostgreSQL an UPDATE writes the row's new version after the others, so without the
    id tiebreak the older token, used since, would be listed after its successor."""
    service.create_token(session, "bot", ["admin"], "alice")
    service.revoke_token(session, "bot", "alice")
    service.create_token(session, "bot", ["admin"], "alice")
    older, newer = sorted(session.scalars(sa.select(ApiToken.id)))
    session.execute(sa.update(ApiToken).where(ApiToken.id == older).values(last_used_at=utcnow()))
    session.commit()
    assert [(token.name, token.id) for token in service.list_tokens(session)] == [
        ("bot", older),
        ("bot", newer),
    ]


def test_a_last_use_exactly_the_precision_ago_is_recorded_again(
    session: DbSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = service.create_token(session, "bot", ["admin"], "alice")
    row = session.scalars(sa.select(ApiToken)).one()
    now = utcnow()
    monkeypatch.setattr(service, "utcnow", lambda: now)
    for last_use, recorded in (
        (now - service.LAST_USED_PRECISION + timedelta(microseconds=1), False),
        (now - service.LAST_USED_PRECISION, True),
    ):
        row.last_used_at = last_use
        session.commit()
        service.RECENT_TOKENS.forget(row.token_hash)
        assert service.authenticate(session, token) is not None
        assert row.last_used_at == (now if recorded else last_use)


# ensure_token's read by hash, after it found no active token of that name with that value.
BETWEEN_THE_TWO_READS = "WHERE api_tokens.token_hash = "


def test_ensure_token_finds_the_same_token_another_process_stored_between_its_reads(
    session: DbSession,
) -> None:
    with just_before(
        BETWEEN_THE_TWO_READS,
        committed_elsewhere(
            lambda other: service.ensure_token(other, "smoke", VALUE, ["admin"], "other")
        ),
    ):
        assert service.ensure_token(session, "smoke", VALUE, ["admin"], "deploy") is False
    session.commit()
    active = session.scalars(
        sa.select(ApiToken).where(ApiToken.name == "smoke", ApiToken.revoked_at.is_(None))
    ).all()
    assert [row.token_hash for row in active] == [service.hash_token(VALUE)]
    assert _audit(session) == [("token.create", "smoke", "other")]


def _revoked_after_storing(other: DbSession) -> None:
    service.ensure_token(other, "smoke", VALUE, ["admin"], "other")
    service.revoke_token(other, "smoke", "other")


@pytest.mark.parametrize(
    "store",
    [
        pytest.param(
            lambda other: service.ensure_token(other, "elsewhere", VALUE, ["admin"], "other"),
            id="under-another-name",
        ),
        pytest.param(_revoked_after_storing, id="and-revoked-it"),
    ],
)
def test_ensure_token_refuses_a_value_another_process_used_between_its_reads(
    session: DbSession, store: Callable[[DbSession], object]
) -> None:
    with (
        just_before(BETWEEN_THE_TWO_READS, committed_elsewhere(store)),
        pytest.raises(service.TokenError) as refused,
    ):
        service.ensure_token(session, "smoke", VALUE, ["admin"], "deploy")
    assert str(refused.value) == "that value was used by a token before; give 'smoke' a new one"
    session.rollback()
    assert [action for action, _, actor in _audit(session) if actor == "deploy"] == []


def test_ensure_token_losing_the_insert_to_another_process_finds_its_token(app: Flask) -> None:
    """Two processes store one token at once: the one whose insert waits behind the other's
    uncommitted row fails on the unique index once that commits, and looks again."""
    with app.app_context(), Session(db.engine) as other:
        service.ensure_token(other, "smoke", VALUE, ["admin"], "other")  # not committed yet
        engine = db.engine

        def ensure() -> bool:
            with Session(engine) as mine:
                stored = service.ensure_token(mine, "smoke", VALUE, ["admin"], "deploy")
                mine.commit()
                return stored

        assert answered_after(other, ensure, "the second insert to wait on the first") is False
        rows = other.scalars(sa.select(ApiToken)).all()
        assert [(row.name, row.revoked_at) for row in rows] == [("smoke", None)]
        assert _audit(other) == [("token.create", "smoke", "other")]


def test_ensure_token_gives_up_after_two_clashes_naming_the_token(session: DbSession) -> None:
    """Each insert loses to another process: first one storing another value as the active
    `smoke`, then (after ours revoked that) one storing our value under another name."""
    other_value = service.TOKEN_PREFIX + "o" * 43
    with (
        just_before(
            "INSERT INTO api_tokens ",
            committed_elsewhere(
                lambda other: service.ensure_token(other, "smoke", other_value, ["admin"], "other")
            ),
            committed_elsewhere(
                lambda other: service.ensure_token(other, "elsewhere", VALUE, ["admin"], "other")
            ),
        ),
        pytest.raises(service.TokenError) as refused,
    ):
        service.ensure_token(session, "smoke", VALUE, ["admin"], "deploy")
    assert str(refused.value) == "the token 'smoke' could not be stored"
    session.rollback()
    rows = session.scalars(sa.select(ApiToken).order_by(ApiToken.id)).all()
    assert [(row.name, row.token_hash, row.revoked_at) for row in rows] == [
        ("smoke", service.hash_token(other_value), None),
        ("elsewhere", service.hash_token(VALUE), None),
    ]
