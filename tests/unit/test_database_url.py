"""DB_SECRET_ARN failures from AWS are configuration errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from incident_tracker.core.config import ConfigError, load_settings
from incident_tracker.core.database import database_url
from tests.support.settings import ARN, KEY

SETTINGS = {"DB_SECRET_ARN": ARN, "DB_HOST": "db.internal", "SECRET_KEY": KEY}
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@mock_aws
def test_a_missing_secret_names_db_secret_arn(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AWS_CREDENTIALS:
        monkeypatch.setenv(name, "testing")
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="another", SecretString="{}"
    )
    settings = load_settings({**SETTINGS, "AWS_REGION": "eu-west-1"})
    with pytest.raises(ConfigError, match="DB_SECRET_ARN") as failure:
        database_url(settings)
    assert "ResourceNotFoundException" in str(failure.value)


def test_no_aws_credentials_names_db_secret_arn(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (*AWS_CREDENTIALS, "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings = load_settings({**SETTINGS, "AWS_REGION": "eu-west-1"})
    with pytest.raises(ConfigError, match="DB_SECRET_ARN") as failure:
        database_url(settings)
    assert "credentials" in str(failure.value)
