"""The `incident-tracker` command: migrations, serving, API tokens, webhooks and the worker."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

import click
import prometheus_client

from incident_tracker import migrate
from incident_tracker.auth import service as auth_service
from incident_tracker.core.config import ConfigError, load_settings
from incident_tracker.core.database import DbSession, rfc3339
from incident_tracker.core.problem import Problem
from incident_tracker.incidents import service as incidents_service
from incident_tracker.ops.logging import configure_logging
from incident_tracker.webhooks import service as webhook_service
from incident_tracker.webhooks import worker as webhook_worker
from incident_tracker.webhooks.models import DeliveryStatus


def _ini() -> Path:
    return load_settings().alembic_ini


def _operator() -> str:
    """Who ran the command, for the audit trail."""
    return "cli:" + (os.environ.get("USER") or os.environ.get("LOGNAME") or str(os.getuid()))


@contextmanager
def _session() -> Iterator[DbSession]:
    from incident_tracker.app import create_app  # the app imports this module's neighbours
    from incident_tracker.core.database import db

    app = create_app()
    # stdout carries the command's answer (e.g. a new token); logs go to stderr.
    configure_logging(load_settings().log_level, sys.stderr)
    with app.app_context():
        yield db.session


@click.group()
def main() -> None:
    """Incident Tracker administration."""


@main.group()
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest).

    With APP_DB_SECRET_ARN, then create the service's role if missing and grant it DML.
    """
    settings = load_settings()
    migrate.upgrade(settings.alembic_ini, revision)
    if settings.app_db_secret_arn is not None:
        migrate.grant_app_role(settings)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (e.g. -1 or base)."""
    migrate.downgrade(_ini(), revision)


@main.group()
def tokens() -> None:
    """API tokens: create, list, revoke."""


@tokens.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="incidents:read, incidents:write or admin (repeatable)",
)
@click.option("--expires-in", default=None, help="e.g. 30d, 12h, 90m, 2w (default: never)")
def tokens_create(name: str, scopes: tuple[str, ...], expires_in: str | None) -> None:
    """Create a token and print it, alone, on stdout. It is shown only this once."""
    try:
        expiry = auth_service.parse_duration(expires_in) if expires_in else None
        with _session() as session:
            token = auth_service.create_token(session, name, scopes, _operator(), expiry)
            session.commit()
    except auth_service.TokenError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(token)


@tokens.command("list")
def tokens_list() -> None:
    """Names, scopes, created, expires, last used; never the secret."""
    with _session() as session:
        rows = [auth_service.describe(row) for row in auth_service.list_tokens(session)]
    columns = ("name", "scopes", "created_at", "expires_at", "last_used_at", "revoked_at")
    click.echo("\t".join(column.upper() for column in columns))
    for row in rows:
        row["scopes"] = ",".join(row["scopes"])  # type: ignore[arg-type]
        click.echo("\t".join(str(row[column] or "-") for column in columns))


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token by name; it gets 401 from now on."""
    try:
        with _session() as session:
            auth_service.revoke_token(session, name, _operator())
            session.commit()
    except auth_service.TokenError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"revoked {name}", err=True)


@main.group()
def webhooks() -> None:
    """Outbound webhooks: subscriptions and dead letters."""


@contextmanager
def _usage_errors() -> Iterator[None]:
    """A refusal of the service (e.g. a bad URL) is the operator's to correct: exit 2."""
    try:
        yield
    except Problem as problem:
        raise click.UsageError(problem.detail) from None


@webhooks.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    required=True,
    help="incident.created, incident.updated, incident.status_changed, incident.note_added, "
    "incident.update_posted, change.recorded",
)
def webhooks_add(url: str, events: tuple[str, ...]) -> None:
    """Subscribe URL; print its id and signing secret (shown only this once) on stdout."""
    with _usage_errors(), _session() as session:
        row = webhook_service.add_subscription(
            session, url, events, _operator(), load_settings().webhook_allow_private_targets
        )
        session.commit()
        click.echo(f"{row.id}\t{row.secret}")


@webhooks.command("list")
def webhooks_list() -> None:
    """Subscriptions: id, URL, events, creator; never the secret."""
    with _session() as session:
        rows = [
            webhook_service.describe(row) for row in webhook_service.list_subscriptions(session)
        ]
    click.echo("ID\tURL\tEVENTS\tCREATED_BY\tCREATED_AT")
    for row in rows:
        fields = (row["id"], row["url"], ",".join(row["events"]), row["created_by"])
        click.echo("\t".join(map(str, (*fields, row["created_at"]))))


@webhooks.command("remove")
@click.argument("subscription_id", type=click.IntRange(1))
def webhooks_remove(subscription_id: int) -> None:
    """Remove a subscription and its undelivered events."""
    with _usage_errors(), _session() as session:
        webhook_service.remove_subscription(session, subscription_id, _operator())
        session.commit()
    click.echo(f"removed webhook subscription {subscription_id}", err=True)


@webhooks.command("dead-letters")
@click.option("--limit", type=click.IntRange(1, 100), default=100, show_default=True)
def webhooks_dead_letters(limit: int) -> None:
    """Deliveries that used up their attempts, newest first, with the last error."""
    with _session() as session:
        page = webhook_service.list_deliveries(
            session, {"status": DeliveryStatus.DEAD, "limit": limit}
        )
        click.echo("ID\tSUBSCRIPTION\tEVENT_ID\tEVENT_TYPE\tATTEMPTS\tCREATED_AT\tLAST_ERROR")
        for row in page.items:
            fields = (row.id, row.subscription_id, row.event_id, row.event_type.value)
            rest = (row.attempts, rfc3339(row.created_at), row.last_error or "-")
            click.echo("\t".join(map(str, (*fields, *rest))))


@webhooks.command("retry")
@click.argument("delivery_id", type=click.IntRange(1))
def webhooks_retry(delivery_id: int) -> None:
    """Send a dead delivery again, with a fresh set of attempts."""
    with _usage_errors(), _session() as session:
        webhook_service.retry_delivery(session, delivery_id, _operator())
        session.commit()
    click.echo(f"delivery {delivery_id} is pending again", err=True)


@main.command()
@click.option(
    "--heartbeat-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="touched every round, for a liveness probe",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="serve Prometheus metrics on this port (all interfaces)",
)
def worker(heartbeat_file: Path | None, metrics_port: int | None) -> None:
    """Send webhook deliveries until SIGTERM or SIGINT (the delivery in flight completes)."""
    if metrics_port is not None:
        prometheus_client.start_http_server(metrics_port)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = load_settings()
    prune_idempotency = partial(
        incidents_service.prune_idempotency_records,
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
    )
    with _session() as session:
        webhook_worker.run(session, settings, stop, heartbeat_file, also_prune=[prune_idempotency])


def _first_run_admin_token(bind: str) -> None:
    """On the embedded SQLite default only: with no token yet, make one and show it once."""
    with _session() as session:
        if auth_service.any_token_exists(session):
            return
        token = auth_service.create_token(session, "admin", ["admin"], _operator())
        session.commit()
    host = bind.replace("0.0.0.0", "127.0.0.1")  # noqa: S104 (text for the newcomer's curl)
    click.echo(
        "\nFirst start: created the API token 'admin' for local use (shown only now):\n"
        f"  export TOKEN={token}\n"
        f'  curl -H "Authorization: Bearer $TOKEN" http://{host}/api/v1/incidents\n',
        err=True,
    )


@main.command()
@click.option("--bind", default=None, help="host:port (default: $BIND or 0.0.0.0:8000)")
@click.option("--workers", type=int, default=None, help="worker processes (default: by CPU count)")
def serve(bind: str | None, workers: int | None) -> None:
    """Serve the API under gunicorn with the project's gunicorn configuration."""
    settings = load_settings()  # fail here, naming the setting, before gunicorn forks workers
    if settings.uses_embedded_sqlite:
        _first_run_admin_token(bind or os.environ.get("BIND", "127.0.0.1:8000"))
    config = Path(__file__).with_name("gunicorn_conf.py")
    args = [sys.executable, "-m", "gunicorn", "--config", str(config)]
    if bind:
        args += ["--bind", bind]
    if workers:
        args += ["--workers", str(workers)]
    args.append("incident_tracker:create_app()")
    os.execv(args[0], args)  # noqa: S606 (replace this process: signals reach gunicorn directly)


def run() -> None:
    try:
        main()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
