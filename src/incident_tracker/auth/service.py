"""Creating, checking, listing and revoking API tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from incident_tracker.auth.identity import SCOPES, Identity
from incident_tracker.auth.models import ApiToken
from incident_tracker.core.database import DbSession, rfc3339, utcnow
from incident_tracker.core.events import Happened, publish

TOKEN_PREFIX = "itk_"  # noqa: S105 (a marker that makes leaked tokens greppable, not a secret)
# Used with fullmatch: `$` with match would also accept a trailing newline.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
_DURATION = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Recording every use would turn each read into a write; a minute's precision is enough.
LAST_USED_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class _Checked:
    identity: Identity
    expires_at: datetime | None  # the token's own expiry, still enforced on every hit
    recheck_at: float  # on the cache's clock: look the token up again from then on


class TokenCache:
    """Tokens this process checked recently, so most requests need no token lookup.

    A token revoked in another process still passes here for at most `seconds` after this
    process last looked it up (TOKEN_CACHE_SECONDS, README "Configuration"); revoking in this
    process forgets it at once. Unknown tokens are never cached, so guessing fills nothing.
    """

    MAX_ENTRIES = 10_000  # a bound on memory; when full, start again (one lookup each)

    def __init__(self, seconds: float = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._checked: dict[str, _Checked] = {}

    def get(self, token_hash: str) -> Identity | None:
        checked = self._checked.get(token_hash)
        if checked is None:
            return None
        if self.clock() >= checked.recheck_at or (
            checked.expires_at is not None and checked.expires_at <= utcnow()
        ):
            self._checked.pop(token_hash, None)
            return None
        return checked.identity

    def put(self, token_hash: str, identity: Identity, expires_at: datetime | None) -> None:
        if self.seconds <= 0:
            return
        if len(self._checked) >= self.MAX_ENTRIES:
            self._checked.clear()
        self._checked[token_hash] = _Checked(identity, expires_at, self.clock() + self.seconds)

    def forget(self, token_hash: str) -> None:
        self._checked.pop(token_hash, None)


# One per process: gunicorn workers are processes, and their threads share it.
RECENT_TOKENS = TokenCache()


class TokenError(ValueError):
    """A token request the operator must correct."""


def parse_duration(text: str) -> timedelta:
    """'30d', '12h', '90m', '2w' → timedelta."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise TokenError(f"expected a duration like 30d, 12h, 90m or 2w, got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: DbSession,
    name: str,
    scopes: Iterable[str],
    actor: str,
    expires_in: timedelta | None = None,
) -> str:
    """Store a new token's hash and return the token itself, which is never stored."""
    scopes = sorted(set(scopes))
    if not NAME.fullmatch(name):
        raise TokenError("name: 1-100 letters, digits, '.', '_', '@' or '-'")
    if not scopes or not set(scopes) <= set(SCOPES):
        raise TokenError(f"scopes: one or more of {', '.join(SCOPES)}")
    if _active(session, name) is not None:
        raise TokenError(f"a token named {name!r} exists; revoke it first")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        name=name,
        token_hash=hash_token(token),
        scopes=scopes,
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
    )
    session.add(row)
    session.flush()
    publish(Happened(session, actor, "token.create", "token", name, None, describe(row)))
    return token


def ensure_token(
    session: DbSession, name: str, token: str, scopes: Iterable[str], actor: str
) -> bool:
    """Make `token` (chosen elsewhere, e.g. a Secrets Manager secret) the active token `name`.

    Idempotent: True when it stored the token (after revoking a predecessor with another
    value), False when it already was the active one. Safe when several processes
    start at once: the loser of the race on the active name finds the winner's row.
    """
    scopes = sorted(set(scopes))
    if not token.startswith(TOKEN_PREFIX) or len(token) < len(TOKEN_PREFIX) + 43:
        raise TokenError(f"expected {TOKEN_PREFIX} followed by 43+ random characters")
    digest = hash_token(token)
    for _attempt in range(2):
        try:
            with session.begin_nested():
                return _replace_token(session, name, digest, scopes, actor)
        except sa.exc.IntegrityError:
            continue  # another process stored it at the same moment: look again
    raise TokenError(f"the token {name!r} could not be stored")


def _replace_token(
    session: DbSession, name: str, digest: str, scopes: list[str], actor: str
) -> bool:
    row = session.scalar(
        sa.select(ApiToken)
        .where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .with_for_update()
    )
    if row is not None and row.token_hash == digest:
        return False
    holder = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == digest))
    if holder is not None:
        if holder.name == name and holder.revoked_at is None:
            return False  # another process stored it between our two reads
        raise TokenError(f"that value was used by a token before; give {name!r} a new one")
    if row is not None:
        revoke_token(session, name, actor)
    new = ApiToken(name=name, token_hash=digest, scopes=scopes, created_at=utcnow())
    session.add(new)
    session.flush()
    publish(Happened(session, actor, "token.create", "token", name, None, describe(new)))
    return True


def describe(row: ApiToken) -> dict[str, object]:
    """What may be shown about a token: never the secret or its hash."""
    return {
        "name": row.name,
        "scopes": list(row.scopes),
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


def _iso(value: datetime | None) -> str | None:
    return rfc3339(value) if value else None


def list_tokens(session: DbSession) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).order_by(ApiToken.name, ApiToken.id)))


def _active(session: DbSession, name: str) -> ApiToken | None:
    """The unrevoked token of that name; revoked ones keep their names for the audit trail."""
    return session.scalar(
        sa.select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )


def revoke_token(session: DbSession, name: str, actor: str) -> None:
    row = _active(session, name)
    if row is None:
        raise TokenError(f"no active token named {name!r}")
    before = describe(row)
    row.revoked_at = utcnow()  # frees the name for a successor (uq_api_tokens_active_name)
    session.flush()
    RECENT_TOKENS.forget(row.token_hash)
    publish(Happened(session, actor, "token.revoke", "token", name, before, describe(row)))


def authenticate(session: DbSession, presented: str) -> Identity | None:
    """The identity of a valid, unexpired, unrevoked token; None otherwise."""
    if not presented.startswith(TOKEN_PREFIX) or len(presented) > 200:
        return None
    presented_hash = hash_token(presented)
    if (identity := RECENT_TOKENS.get(presented_hash)) is not None:
        return identity
    row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == presented_hash))
    # The lookup is by hash, so timing reveals nothing about the token; compare anyway.
    if row is None or not hmac.compare_digest(row.token_hash, presented_hash):
        return None
    identity = _use(session, row)
    if identity is not None:
        RECENT_TOKENS.put(presented_hash, identity, row.expires_at)
    return identity


def authenticate_web_session(session: DbSession, token_id: int, generation: int) -> Identity | None:
    """Re-check a web session (its cookie keeps the token's id and the generation it signed in
    at): None once the token is revoked or expired, or the session was signed out anywhere."""
    row = session.get(ApiToken, token_id)
    if row is None or row.web_session_generation != generation:
        return None
    return _use(session, row)


def web_session_generation(session: DbSession, token_id: int) -> int:
    """The generation a web session signing in now belongs to."""
    generation: int = session.scalars(
        sa.select(ApiToken.web_session_generation).where(ApiToken.id == token_id)
    ).one()
    return generation


def end_web_sessions(session: DbSession, token_id: int) -> None:
    """Sign-out: every cookie of this token's web sessions, copies included, stops working."""
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.id == token_id)
        .values(web_session_generation=ApiToken.web_session_generation + 1)
    )


def _use(session: DbSession, row: ApiToken) -> Identity | None:
    now = utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        row.last_used_at = now
        session.commit()
    return Identity(row.name, frozenset(row.scopes), row.id)


def any_token_exists(session: DbSession) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) != 0
