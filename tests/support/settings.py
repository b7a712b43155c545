"""Valid configuration values that more than one configuration test passes."""

from __future__ import annotations

ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1234-AbCdEf"  # DB_SECRET_ARN
KEY = "k" * 32  # SECRET_KEY: the shortest one accepted
