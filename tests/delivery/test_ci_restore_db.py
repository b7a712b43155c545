"""ci/restore-db against moto_server: a point-in-time restore into a new instance.

RDS restores into a NEW instance only, within the automated-backup window:
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.programs import moto_server

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def env(moto_endpoint: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


def client(env: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def source(env: dict[str, str]) -> dict[str, Any]:
    """An instance shaped like modules/database's: private subnets, its SG and parameters."""
    ec2, rds = client(env, "ec2"), client(env, "rds")
    suffix = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName=f"rds-{suffix}", Description="rds", VpcId=vpc)
    rds.create_db_subnet_group(
        DBSubnetGroupName=f"prod-{suffix}", DBSubnetGroupDescription="private", SubnetIds=subnets
    )
    rds.create_db_parameter_group(
        DBParameterGroupName=f"prod-pg16-{suffix}",
        DBParameterGroupFamily="postgres16",
        Description="force ssl",
    )
    return rds.create_db_instance(  # type: ignore[no-any-return]
        DBInstanceIdentifier=f"incident-tracker-prod-{suffix}",
        Engine="postgres",
        DBInstanceClass="db.m6g.large",
        AllocatedStorage=20,
        MasterUsername="incident_tracker",
        MasterUserPassword="not-a-real-password-1",
        DBSubnetGroupName=f"prod-{suffix}",
        VpcSecurityGroupIds=[group["GroupId"]],
        DBParameterGroupName=f"prod-pg16-{suffix}",
        EnableIAMDatabaseAuthentication=True,
        BackupRetentionPeriod=30,
        PubliclyAccessible=False,
    )["DBInstance"]


def restore_db(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "ci" / "restore-db"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def instance(env: dict[str, str], identifier: str) -> dict[str, Any] | None:
    rds = client(env, "rds")
    try:
        return rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]  # type: ignore[no-any-return]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None


def test_restores_into_a_new_private_instance_with_the_source_s_network(
    env: dict[str, str], source: dict[str, Any]
) -> None:
    target = source["DBInstanceIdentifier"] + "-restored"
    result = restore_db(env, source["DBInstanceIdentifier"], target, "--latest")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["identifier"] == target
    restored = instance(env, target)
    assert restored is not None
    assert (
        restored["DBSubnetGroup"]["DBSubnetGroupName"]
        == source["DBSubnetGroup"]["DBSubnetGroupName"]
    )
    assert [g["VpcSecurityGroupId"] for g in restored["VpcSecurityGroups"]] == [
        g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]
    ]
    assert (
        restored["DBParameterGroups"][0]["DBParameterGroupName"]
        == source["DBParameterGroups"][0]["DBParameterGroupName"]
    )
    assert restored["PubliclyAccessible"] is False
    assert restored["DeletionProtection"] is True
    assert restored["IAMDatabaseAuthenticationEnabled"] is True
    tags = {tag["Key"]: tag["Value"] for tag in restored["TagList"]}
    assert tags == {"RestoredFrom": source["DBInstanceIdentifier"], "RestoredTo": "latest"}
    # The source is untouched.
    assert instance(env, source["DBInstanceIdentifier"]) is not None


def test_a_time_outside_the_backup_window_creates_nothing(
    env: dict[str, str], source: dict[str, Any]
) -> None:
    target = source["DBInstanceIdentifier"] + "-too-old"
    result = restore_db(
        env, source["DBInstanceIdentifier"], target, "--time", "2000-01-01T00:00:00Z"
    )
    assert result.returncode == 2
    assert "outside the restore window" in result.stderr
    assert instance(env, target) is None


def test_a_time_inside_the_window_is_restored(env: dict[str, str], source: dict[str, Any]) -> None:
    moment = instance(env, source["DBInstanceIdentifier"])["LatestRestorableTime"]  # type: ignore[index]
    target = source["DBInstanceIdentifier"] + "-at"
    when = moment.astimezone(datetime.UTC).isoformat()
    result = restore_db(env, source["DBInstanceIdentifier"], target, "--time", when, "--no-wait")
    assert result.returncode == 0, result.stderr
    restored = instance(env, target)
    assert restored is not None
    assert {t["Key"]: t["Value"] for t in restored["TagList"]}["RestoredTo"] == when


def test_never_restores_over_an_existing_instance(
    env: dict[str, str], source: dict[str, Any]
) -> None:
    result = restore_db(
        env, source["DBInstanceIdentifier"], source["DBInstanceIdentifier"], "--latest"
    )
    assert result.returncode == 2
    assert "exists already" in result.stderr
    assert len(client(env, "rds").describe_db_instances()["DBInstances"]) >= 1


@pytest.mark.parametrize(
    "args",
    [
        ["incident-tracker-prod", "restored"],  # neither --time nor --latest
        ["incident-tracker-prod", "restored", "--time", "2026-12-01T10:00:00"],  # no offset
        ["incident-tracker-prod", "restored", "--time", "x", "--latest"],
    ],
)
def test_usage_errors_exit_2(env: dict[str, str], args: list[str]) -> None:
    result = restore_db(env, *args)
    assert result.returncode == 2, result.stderr
