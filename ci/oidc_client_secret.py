"""The Kubernetes Secret the load balancer controller reads the OIDC client from (entry point:
ci/deploy), made from the Secrets Manager secret Terraform holds it in.

    python ci/oidc_client_secret.py SECRET_ARN NAMESPACE NAME

Prints the Secret NAME (data clientID, clientSecret: the keys auth-idp-oidc's secretName must
hold) as JSON on stdout, for `kubectl apply -f -`: the client secret travels through a pipe
only, never a file, an argument or a log. The Secrets Manager value is JSON with `clientID`
and `clientSecret`; a missing key is refused by name, never by value.
AWS_ENDPOINT_URL points the call at another endpoint (moto_server in the tests).
"""

from __future__ import annotations

import base64
import json
import os
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError

KEYS = ("clientID", "clientSecret")


def secret_manifest(secret_arn: str, namespace: str, name: str) -> dict[str, object]:
    client = boto3.client("secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    try:
        raw = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as error:
        raise SystemExit(
            f"ci/deploy: cannot read the OIDC client secret {secret_arn}: {error}"
        ) from None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise SystemExit(f"ci/deploy: {secret_arn} is not JSON with {' and '.join(KEYS)}")
    missing = [key for key in KEYS if not isinstance(value.get(key), str) or not value[key]]
    if missing:
        raise SystemExit(f"ci/deploy: {secret_arn} has no {', '.join(missing)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "incident-tracker"},
        },
        "type": "Opaque",
        "data": {key: base64.b64encode(value[key].encode()).decode() for key in KEYS},
    }


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: oidc_client_secret.py SECRET_ARN NAMESPACE NAME", file=sys.stderr)
        return 2
    json.dump(secret_manifest(*argv), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
