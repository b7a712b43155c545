"""The SQLAlchemy base, the Flask-SQLAlchemy handle and how the database URL is chosen."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import psycopg2.extensions
import sqlalchemy as sa
import structlog
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session

from incident_tracker.core.config import ConfigError, Settings
from incident_tracker.core.secrets import (
    CachedCredentials,
    read_database_credentials,
    secret_source,
)

_log = structlog.get_logger(__name__)

# Stable constraint names so Alembic migrations can address them on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# What service functions accept: a plain Session, or Flask-SQLAlchemy's request-scoped one.
DbSession = Session | scoped_session[Any]

# BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER primary key.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MAX_ID = 2**63 - 1  # larger numbers in a URL or cursor can name no row
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Set by the app for a write request, so SQLite takes its write lock up front (_sqlite_begin).
write_intent: ContextVar[bool] = ContextVar("write_intent", default=False)
# Set by the app for a GET, HEAD or OPTIONS request: it reads in autocommit (_read_in_autocommit).
read_intent: ContextVar[bool] = ContextVar("read_intent", default=False)

# JSONB on PostgreSQL (indexable containment for tag filters), JSON text elsewhere.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


PRUNE_BATCH_SIZE = 1000


def delete_in_batches(
    session: DbSession,
    key: Sequence[sa.orm.InstrumentedAttribute[Any]],
    condition: sa.ColumnElement[bool],
    batch_size: int = PRUNE_BATCH_SIZE,
) -> int:
    """Delete the rows matching `condition`, a committed batch at a time; return how many.

    `key` is the table's primary key. Short transactions: a prune of a large backlog never
    holds locks or a huge undo log for long, and what it deleted stays deleted if it stops.
    """
    model = key[0].class_
    deleted = 0
    while True:
        batch = sa.select(*key).where(condition).limit(batch_size)
        target = (
            key[0].in_(batch.scalar_subquery()) if len(key) == 1 else sa.tuple_(*key).in_(batch)
        )
        result = session.execute(sa.delete(model).where(target))
        count = cast(sa.CursorResult[Any], result).rowcount
        session.commit()
        deleted += count
        if count < batch_size:
            return deleted


def string_enum(enum_type: type[enum.Enum], name: str, length: int = 16) -> sa.Enum:
    """An enum stored as its values in a VARCHAR with a CHECK constraint, on every dialect."""
    return sa.Enum(
        enum_type,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
    )


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware timestamps that come back as UTC on every dialect (SQLite drops tzinfo)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """UTC, whole seconds, Z suffix, four-digit year: 2026-11-22T04:44:29Z.

    Six of these per incident in every response: a time already in UTC (every one read from
    the database is) is written as it is, without a converted copy.
    """
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="seconds")[:-6] + "Z"  # "+00:00" becomes "Z"


def _url_from_secret(settings: Settings) -> URL:
    """The URL of the DB_SECRET_ARN database, without its password: `use_secret_credentials`
    supplies user and password to every new connection."""
    credentials = read_database_credentials(secret_source(settings, "DB_SECRET_ARN"))
    return URL.create(
        "postgresql+psycopg2",
        username=credentials.username,
        host=credentials.host or settings.db_host,
        port=credentials.port or settings.db_port,
        database=credentials.dbname or settings.db_name,
        query={"sslmode": settings.db_sslmode},
    )


def _is_authentication_failure(error: Exception) -> bool:
    # libpq reports a refused login before any session exists, so psycopg2 has no SQLSTATE
    # (28P01) to offer: the server's message is what there is.
    return "password authentication failed" in str(error)


def use_secret_credentials(engine: sa.Engine, settings: Settings) -> None:
    """Log every new connection in with DB_SECRET_ARN's current credentials.

    They are cached; when a login fails (the secret was rotated), the secret is read again
    and the connection retried once, so a rotation costs one retried connection, no restart.
    """
    credentials = CachedCredentials(secret_source(settings, "DB_SECRET_ARN"))

    @sa.event.listens_for(engine, "do_connect")
    def connect(dialect: sa.Dialect, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        used = credentials.current()
        try:
            return dialect.connect(*cargs, **{**cparams, **used.login})
        except dialect.loaded_dbapi.OperationalError as exc:
            if not _is_authentication_failure(exc):
                raise
            _log.info("database login refused; reading DB_SECRET_ARN again")
            try:
                fresh = credentials.refresh(used)
            except ConfigError as unreadable:
                # Answered like an outage (503), not a crash; the next connection tries again.
                _log.error("database secret unreadable", error=str(unreadable))
                raise exc from unreadable
            return dialect.connect(*cargs, **{**cparams, **fresh.login})


def database_url(settings: Settings) -> URL:
    """DATABASE_URL, else the DB_SECRET_ARN secret, else the embedded SQLite file."""
    if settings.database_url is not None:
        try:
            return make_url(settings.database_url)
        except sa.exc.ArgumentError as exc:
            raise ConfigError("DATABASE_URL", "not a valid database URL") from exc
    if settings.db_secret_arn is not None:
        return _url_from_secret(settings)
    path = settings.sqlite_path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return URL.create("sqlite", database=str(path))


def engine_options(url: URL, settings: Settings) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": 15}}
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_timeout": settings.db_connect_timeout_seconds,
        "connect_args": {
            "connect_timeout": settings.db_connect_timeout_seconds,
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
            "application_name": "incident-tracker",
        },
    }


_IDLE_SINCE = "incident_tracker.idle_since"


def ping_when_idle(
    engine: sa.Engine, after_idle_seconds: float, clock: Callable[[], float] = time.monotonic
) -> None:
    """Replace a dead pooled connection before use: SQLAlchemy's pessimistic ping
    (`pool_pre_ping`), but only for a connection that sat in the pool `after_idle_seconds`
    or longer.

    A connection handed back moments ago was alive then; pinging it anyway cost every request
    a round trip (docs/performance.md). A database restart that a connection spans without
    being idle that long is answered like the restart itself: that request gets a 503, the
    disconnect discards the worker's whole pool, and the next request connects afresh.
    The recipe: https://docs.sqlalchemy.org/en/20/core/pooling.html#disconnect-handling-pessimistic
    (raising DisconnectionError in a checkout handler makes the pool connect anew).
    """

    @sa.event.listens_for(engine, "checkin")
    def note_idle_since(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = clock()

    @sa.event.listens_for(engine, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)  # None: a fresh connection
        if idle_since is None or clock() - idle_since < after_idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError(str(exc)) from exc


Result = TypeVar("Result")


def retry_on_stale_connection(session: DbSession, read: Callable[[], Result]) -> Result:
    """Run a read-only first statement, once more if its pooled connection was dead.

    After a database restart every pooled connection is stale. The first use of one fails
    with a disconnect error, which makes SQLAlchemy discard the whole pool; a read that has
    written nothing can then safely run again on a fresh connection.
    """
    try:
        return read()
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        session.rollback()
        return read()


def _is_idle_psycopg2(dbapi_connection: Any) -> bool:
    return (
        type(dbapi_connection).__module__.startswith("psycopg2")
        and not dbapi_connection.closed
        and dbapi_connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_IDLE
    )


@sa.event.listens_for(sa.pool.Pool, "checkout")
def _read_in_autocommit(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A GET takes its connection in autocommit: no BEGIN before its reads, no ROLLBACK after.

    A read needs no transaction (a token's last-used time aside: one UPDATE, atomic on its
    own); two of a GET's round trips go (docs/performance.md). Flipping psycopg2's flag sends
    nothing, unlike SQLAlchemy's AUTOCOMMIT isolation level; `_transactional_again` flips it
    back when the connection returns to the pool.
    """
    if read_intent.get() and _is_idle_psycopg2(dbapi_connection):
        dbapi_connection.autocommit = True


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _transactional_again(dbapi_connection: Any, _record: Any) -> None:
    if dbapi_connection is not None and _is_idle_psycopg2(dbapi_connection):
        dbapi_connection.autocommit = False


# pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy's documented recipe is to
# switch it off and emit BEGIN ourselves.
@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()


@sa.event.listens_for(sa.engine.Engine, "begin")
def _sqlite_begin(connection: sa.Connection) -> None:
    if connection.dialect.name == "sqlite":
        # SQLite has no row locks, and a read transaction that later writes after another
        # writer committed fails with "database is locked" (a 503). A write request takes the
        # write lock up front instead, so concurrent writers queue and see each other's
        # commits: the If-Match losers get 412, as on PostgreSQL.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write_intent.get() else "BEGIN")
