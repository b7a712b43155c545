"""The `incident-tracker` command: database migrations and serving."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from incident_tracker import migrate
from incident_tracker.config import ConfigError, load_settings


def _ini() -> Path:
    return load_settings().alembic_ini


@click.group()
def main() -> None:
    """Incident Tracker administration."""


@main.group()
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    migrate.upgrade(_ini(), revision)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the database down to REVISION (e.g. -1 or base)."""
    migrate.downgrade(_ini(), revision)


@main.command()
@click.option("--bind", default=None, help="host:port (default: $BIND or 0.0.0.0:8000)")
@click.option("--workers", type=int, default=None, help="worker processes (default: by CPU count)")
def serve(bind: str | None, workers: int | None) -> None:
    """Serve the API under gunicorn with the project's gunicorn configuration."""
    load_settings()  # fail here, naming the setting, before gunicorn forks workers
    config = Path(__file__).with_name("gunicorn_conf.py")
    args = [sys.executable, "-m", "gunicorn", "--config", str(config)]
    if bind:
        args += ["--bind", bind]
    if workers:
        args += ["--workers", str(workers)]
    args.append("incident_tracker:create_app()")
    os.execvp(args[0], args)  # noqa: S606 (replace this process: signals reach gunicorn directly)


def run() -> None:
    try:
        main()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
