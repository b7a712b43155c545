"""Point-in-time restore of an environment's RDS instance into a NEW instance.

    python ci/restore_db.py SOURCE TARGET (--time 2026-12-01T10:15:00Z | --latest) [--no-wait]
    (entry point: ci/restore-db)

RDS never restores over an instance: it creates TARGET from SOURCE's automated backups as of
the given time (within the retention window, backup_retention_period in Terraform). TARGET
gets SOURCE's network and settings (subnet group, security groups, parameter group, class,
IAM authentication, CA), stays private, is deletion-protected, and is tagged with where and
when it came from. It prints TARGET's endpoint as JSON on stdout once it is available.
Messages go to stderr; exit 2 on a usage error, a time outside the window or an existing
TARGET (nothing is created then). AWS_ENDPOINT_URL points the calls at moto_server in tests.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from typing import Any

import boto3


class RestoreRefusedError(Exception):
    """The restore cannot start; nothing was created."""


def rds_client() -> Any:
    return boto3.client("rds", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def parse_time(value: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value}: give a UTC offset (e.g. Z)")
    return moment.astimezone(datetime.UTC)


def describe(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        instances = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    except rds.exceptions.DBInstanceNotFoundFault:
        return None
    return instances[0]  # type: ignore[no-any-return]


def check_window(source: dict[str, Any], moment: datetime.datetime) -> None:
    """The restore window: from the later of the instance's creation and `retention` days
    before the latest restorable time, up to that time (RDS checks again; this is to say it
    clearly before anything starts)."""
    latest = source.get("LatestRestorableTime")
    retention = source.get("BackupRetentionPeriod", 0)
    if latest is None or retention < 1:
        raise RestoreRefusedError(f"{source['DBInstanceIdentifier']} has no automated backups")
    earliest = max(source["InstanceCreateTime"], latest - datetime.timedelta(days=retention))
    if not earliest <= moment <= latest:
        raise RestoreRefusedError(
            f"{moment.isoformat()} is outside the restore window of "
            f"{source['DBInstanceIdentifier']}: {earliest.isoformat()} .. {latest.isoformat()}"
        )


def restore(
    rds: Any, source_id: str, target_id: str, moment: datetime.datetime | None
) -> dict[str, Any]:
    source = describe(rds, source_id)
    if source is None:
        raise RestoreRefusedError(f"no DB instance {source_id}")
    if describe(rds, target_id) is not None:
        raise RestoreRefusedError(f"{target_id} exists already: choose a new name")
    if moment is not None:
        check_window(source, moment)
    when = {"RestoreTime": moment} if moment else {"UseLatestRestorableTime": True}
    restored_at = moment.isoformat() if moment else "latest"
    return rds.restore_db_instance_to_point_in_time(  # type: ignore[no-any-return]
        SourceDBInstanceIdentifier=source_id,
        TargetDBInstanceIdentifier=target_id,
        **when,
        DBInstanceClass=source["DBInstanceClass"],
        DBSubnetGroupName=source["DBSubnetGroup"]["DBSubnetGroupName"],
        VpcSecurityGroupIds=[group["VpcSecurityGroupId"] for group in source["VpcSecurityGroups"]],
        DBParameterGroupName=source["DBParameterGroups"][0]["DBParameterGroupName"],
        EnableIAMDatabaseAuthentication=source.get("IAMDatabaseAuthenticationEnabled", False),
        MultiAZ=source.get("MultiAZ", False),
        PubliclyAccessible=False,
        CopyTagsToSnapshot=True,
        DeletionProtection=True,
        Tags=[
            {"Key": "RestoredFrom", "Value": source_id},
            {"Key": "RestoredTo", "Value": restored_at},
        ],
    )["DBInstance"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci/restore-db", description=__doc__.splitlines()[0])
    parser.add_argument("source", help="DB instance identifier, e.g. incident-tracker-prod")
    parser.add_argument("target", help="identifier of the NEW instance to create")
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--time", type=parse_time, help="restore time, ISO 8601 with offset")
    when.add_argument("--latest", action="store_true", help="the latest restorable time")
    parser.add_argument("--no-wait", action="store_true", help="return once RDS accepted it")
    args = parser.parse_args(argv)

    rds = rds_client()
    try:
        created = restore(rds, args.source, args.target, args.time)
    except RestoreRefusedError as refused:
        print(f"restore-db: {refused}", file=sys.stderr)
        return 2
    print(f"restore-db: creating {args.target} from {args.source}", file=sys.stderr)
    if not args.no_wait:
        rds.get_waiter("db_instance_available").wait(
            DBInstanceIdentifier=args.target, WaiterConfig={"Delay": 30, "MaxAttempts": 120}
        )
        created = describe(rds, args.target) or created
    endpoint = created.get("Endpoint", {})
    print(
        json.dumps(
            {
                "identifier": created["DBInstanceIdentifier"],
                "status": created.get("DBInstanceStatus"),
                "host": endpoint.get("Address"),
                "port": endpoint.get("Port"),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
