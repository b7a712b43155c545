"""Configuration parsing and cursors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from incident_tracker.core.config import ConfigError, load_settings, session_secret_key
from incident_tracker.core.database import MAX_ID
from incident_tracker.core.exceptions import Malformed
from incident_tracker.core.pagination import decode_cursor, encode_cursor
from incident_tracker.core.severity import Severity
from incident_tracker.errors import problem_of
from tests.support.settings import ARN, KEY


def test_defaults_use_embedded_sqlite() -> None:
    settings = load_settings({})
    assert settings.uses_embedded_sqlite
    assert settings.max_body_bytes == 64 * 1024


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "mysql://x", "SECRET_KEY": KEY}, "DATABASE_URL"),
        ({"DATABASE_URL": "not a url", "SECRET_KEY": KEY}, "DATABASE_URL"),
        ({"DB_SECRET_ARN": "secret-name"}, "DB_SECRET_ARN"),
        ({"DB_SECRET_ARN": ARN}, "DB_HOST"),
        ({"DB_PORT": "eighty"}, "DB_PORT"),
        ({"DB_PORT": "70000"}, "DB_PORT"),
        ({"MAX_BODY_BYTES": "12"}, "MAX_BODY_BYTES"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"DATABASE_URL": "postgresql://db/x"}, "SECRET_KEY"),
        ({"DATABASE_URL": "postgresql://db/x", "SECRET_KEY": "k" * 31}, "SECRET_KEY"),
        ({"DB_SECRET_ARN": ARN, "DB_HOST": "db.internal"}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY_ARN": "session-key"}, "SECRET_KEY_ARN"),
        ({"APP_DB_SECRET_ARN": "db-app"}, "APP_DB_SECRET_ARN"),
        ({"SMOKE_TOKEN_SECRET_ARN": "arn:aws:s3:::bucket"}, "SMOKE_TOKEN_SECRET_ARN"),
        ({"UPDATE_CADENCE_MINUTES": "SEV5=10"}, "UPDATE_CADENCE_MINUTES"),
        ({"UPDATE_CADENCE_MINUTES": "SEV1"}, "UPDATE_CADENCE_MINUTES"),
        ({"UPDATE_CADENCE_MINUTES": "SEV1=-5"}, "UPDATE_CADENCE_MINUTES"),
        ({"UPDATE_CADENCE_MINUTES": "SEV1=1441"}, "UPDATE_CADENCE_MINUTES"),
        ({"UPDATE_CADENCE_MINUTES": "SEV1=5,sev1=10"}, "UPDATE_CADENCE_MINUTES"),
    ],
)
def test_bad_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as failure:
        load_settings(env)
    assert failure.value.name == named
    assert named in str(failure.value)


def test_secret_arn_with_host_is_accepted() -> None:
    settings = load_settings(
        {"DB_SECRET_ARN": ARN, "DB_HOST": "db.internal", "DB_PORT": "6432", "SECRET_KEY": KEY}
    )
    assert (settings.db_secret_arn, settings.db_host, settings.db_port) == (
        ARN,
        "db.internal",
        6432,
    )
    assert not settings.uses_embedded_sqlite
    assert settings.secret_key == KEY
    assert KEY not in repr(settings)


def test_a_session_key_secret_satisfies_the_session_key_requirement() -> None:
    settings = load_settings(
        {"DB_SECRET_ARN": ARN, "DB_HOST": "db.internal", "SECRET_KEY_ARN": ARN}
    )
    assert settings.secret_key is None and settings.secret_key_arn == ARN


def test_embedded_sqlite_keeps_a_generated_secret_key(tmp_path: Path) -> None:
    settings = load_settings({"SQLITE_PATH": str(tmp_path / "instance" / "db.sqlite3")})
    key = session_secret_key(settings)
    assert len(key) >= 32
    assert session_secret_key(settings) == key  # a restart signs with the same key
    stored = tmp_path / "instance" / "secret_key"
    assert stored.read_text() == key
    assert stored.stat().st_mode & 0o077 == 0
    assert sorted(path.name for path in stored.parent.iterdir()) == ["secret_key"]


def test_a_set_secret_key_wins(tmp_path: Path) -> None:
    settings = load_settings({"SECRET_KEY": KEY, "SQLITE_PATH": str(tmp_path / "db.sqlite3")})
    assert session_secret_key(settings) == KEY
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("last_id", [1, 42, 1000, 9_007_199_254_740_993, MAX_ID])
def test_cursor_round_trip(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert str(last_id) not in cursor  # opaque to clients
    assert decode_cursor(cursor) == last_id


def test_cursors_need_no_escaping_in_a_query_string() -> None:
    # Clients paste next_cursor into `?cursor=` as it is: base64's '=' padding would need %3D.
    for last_id in [*range(1, 40), MAX_ID]:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", encode_cursor(last_id))


@pytest.mark.parametrize(
    "cursor", ["", "abc", "!!!", encode_cursor(5)[:-2] + "zz", "djE6LTM", encode_cursor(2**63)]
)
def test_foreign_cursor_is_a_400(cursor: str) -> None:
    with pytest.raises(Malformed) as failure:
        decode_cursor(cursor)
    problem = problem_of(failure.value)
    assert problem.status == 400
    assert problem.detail == "cursor is not one this service issued"
    assert problem.errors == {"cursor": ["invalid cursor"]}  # names the parameter to fix


def test_secret_key_from_a_mounted_file(tmp_path: Path) -> None:
    key_file = tmp_path / "session-key"
    key_file.write_text(KEY + "\n")
    env = {"DATABASE_URL": "postgresql://db/x", "SECRET_KEY_FILE": str(key_file)}
    assert load_settings(env).secret_key == KEY
    with pytest.raises(ConfigError) as failure:
        load_settings({**env, "SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert failure.value.name == "SECRET_KEY_FILE"


def test_people_settings_parse_and_name_the_bad_variable() -> None:
    arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/it/50dc6c495c0c9188"
    settings = load_settings(
        {
            "OIDC_ALB_ARN": arn,
            "AWS_REGION": "eu-west-1",
            "OIDC_GROUP_SCOPES": "sre=admin, responders=incidents:write,sre=incidents:read",
        }
    )
    assert settings.oidc_alb_arn == arn
    assert settings.oidc_alb_key_url == "https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
    assert settings.oidc_group_scopes == {
        "sre": frozenset({"admin", "incidents:read"}),
        "responders": frozenset({"incidents:write"}),
    }
    bad = {
        "OIDC_ALB_ARN": {"OIDC_ALB_ARN": "arn:aws:iam::111122223333:role/x"},
        "AWS_REGION": {"OIDC_ALB_ARN": arn},
        "OIDC_ALB_KEY_URL": {"OIDC_ALB_KEY_URL": "http://keys.example/{kid}"},
        "OIDC_GROUP_SCOPES": {"OIDC_GROUP_SCOPES": "sre"},
        "OIDC_LOGOUT_URL": {"OIDC_LOGOUT_URL": "javascript:alert(1)"},
    }
    for name, env in bad.items():
        with pytest.raises(ConfigError, match=name):
            load_settings(env)


def test_update_cadence_defaults_and_a_severity_not_named_has_none() -> None:
    assert load_settings({}).update_cadence_minutes == {
        Severity.SEV1: 15,
        Severity.SEV2: 30,
        Severity.SEV3: 60,
        Severity.SEV4: 0,
    }
    cadence = load_settings({"UPDATE_CADENCE_MINUTES": "sev2=20, SEV1=5"}).update_cadence_minutes
    assert cadence == {Severity.SEV1: 5, Severity.SEV2: 20, Severity.SEV3: 0, Severity.SEV4: 0}
