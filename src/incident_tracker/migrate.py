"""Alembic, driven from the app: the newest revision and upgrades under an advisory lock."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from incident_tracker.core.config import ConfigError

# Any constant works; every migration run takes the same one so two never interleave.
MIGRATION_LOCK_ID = 0x1C1D_E7_00


def alembic_config(ini_path: Path) -> Config:
    if not ini_path.is_file():
        raise ConfigError("ALEMBIC_INI", f"{ini_path} not found (run from the project root)")
    config = Config(str(ini_path))
    # Paths in alembic.ini are relative to the ini file, wherever the process runs from.
    config.set_main_option("script_location", str(ini_path.resolve().parent / "migrations"))
    return config


def schema_head(ini_path: Path) -> str:
    head = ScriptDirectory.from_config(alembic_config(ini_path)).get_current_head()
    if head is None:
        raise ConfigError("ALEMBIC_INI", "the migrations folder holds no revision")
    return head


def upgrade(ini_path: Path, revision: str = "head") -> None:
    command.upgrade(alembic_config(ini_path), revision)


def downgrade(ini_path: Path, revision: str) -> None:
    command.downgrade(alembic_config(ini_path), revision)
