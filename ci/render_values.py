"""The account-specific values of an overlay, filled in at deploy time (entry point: ci/render).

    python ci/render_values.py fill ENV KUSTOMIZE_COPY VALUES_OUT
    python ci/render_values.py wait-alb NAME SECONDS   (ci/deploy, after a first deploy)

The overlays (and their components) hold `${KEY}` where a value comes from Terraform: role
ARNs, secret ARNs, DB_HOST, the certificate, the identity provider's endpoints. This fills
them in, in the temporary copy of kustomize/ that ci/render renders (so the ConfigMap's hash
follows the values), and writes all the values to VALUES_OUT (JSON; no secret among them:
ARNs and endpoints; ci/deploy reads OIDC_CLIENT_SECRET_ARN there). The values come from
  - RENDER_VALUES_DIR/ENV.json when RENDER_VALUES_DIR is set: a JSON object KEY -> value, as
    `terraform output -json deploy_values` of the environment's root prints it (a laptop);
  - else the SSM parameters Terraform writes under RENDER_VALUES_SSM_PATH, default
    /incident-tracker/ENV/deploy (the pipelines: the deploy role may read exactly that path),
    one String parameter per KEY.
It refuses, naming the key, a `${KEY}` without a value and any value that is still a
placeholder (the documentation account 111122223333, an example.* domain, an unfilled
`${...}`), so no placeholder can reach a cluster. An empty value is a deliberate "none"
(OIDC_LOGOUT_URL for Google); the service's start-up checks what it requires (ConfigError).
OIDC_ALB_ARN, the signer the service checks, exists only once EKS has made the load balancer
from the Ingress, so Terraform cannot write it: unless the values give it, it is looked up by
the load balancer's fixed name LOAD_BALANCER_NAME (the UI Ingress's load-balancer-name) with
elbv2:DescribeLoadBalancers. Before the first deploy there is none: it is "" (the service then
ignores x-amzn-oidc-data and shows the token form), and ci/deploy waits for the load balancer
(wait-alb) and deploys once more, with it.
AWS_ENDPOINT_URL points the calls at another endpoint (moto_server in the tests).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

KEY_RE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
# What a value copied from a README or an example looks like, never a real one.
PLACEHOLDER_RE = re.compile(
    r"\$\{|111122223333|(^|[./@])example\.(com|org|net)\b|CHANGE[_-]?ME|PLACEHOLDER", re.I
)
SSM_PATH_RE = re.compile(r"^(/[A-Za-z0-9_.-]+)+$")


class RenderError(Exception):
    """A value is missing or still a placeholder; the message names the key."""


def placeholder_keys(env: str, kustomize: Path) -> dict[Path, set[str]]:
    """Every file of ENV's overlay and of the components, with the `${KEY}`s it holds."""
    files = [*(kustomize / "overlays" / env).rglob("*.yaml")]
    files += [*(kustomize / "components").rglob("*.yaml")]
    found = {path: set(KEY_RE.findall(path.read_text())) for path in files}
    return {path: keys for path, keys in found.items() if keys}


def values_from_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RenderError(f"cannot read the values file {path}: {error}") from None
    if not isinstance(data, dict):
        raise RenderError(f"{path} is not a JSON object of KEY -> value")
    return {str(key): str(value) for key, value in data.items()}


def values_from_ssm(path: str) -> dict[str, str]:
    if not SSM_PATH_RE.match(path):
        raise RenderError(f"RENDER_VALUES_SSM_PATH must look like /a/b/c, got: {path}")
    client = boto3.client("ssm", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    values: dict[str, str] = {}
    try:
        pages = client.get_paginator("get_parameters_by_path").paginate(
            Path=path, Recursive=False, WithDecryption=False
        )
        for page in pages:
            for parameter in page["Parameters"]:
                values[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    except (BotoCoreError, ClientError) as error:
        raise RenderError(f"cannot read the SSM parameters under {path}: {error}") from None
    if not values:
        raise RenderError(f"no SSM parameter under {path} (has Terraform applied this root?)")
    return values


def load_balancer_arn(name: str) -> str:
    """The ARN of the load balancer called NAME, "" while none exists."""
    client = boto3.client("elbv2", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    try:
        found = client.describe_load_balancers(Names=[name])["LoadBalancers"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "LoadBalancerNotFound":
            return ""
        raise RenderError(f"cannot look up the load balancer {name}: {error}") from None
    except BotoCoreError as error:
        raise RenderError(f"cannot look up the load balancer {name}: {error}") from None
    return str(found[0]["LoadBalancerArn"]) if found else ""


def wait_for_load_balancer(name: str, seconds: int) -> str:
    """Poll until the load balancer NAME exists (EKS makes it from the Ingress); its ARN."""
    deadline = time.monotonic() + seconds
    while not (arn := load_balancer_arn(name)):
        if time.monotonic() > deadline:
            raise RenderError(
                f"no load balancer {name} after {seconds}s (is the Ingress reconciled?)"
            )
        time.sleep(10)
    return arn


def load_values(env: str) -> tuple[dict[str, str], str]:
    """The values and where they came from (for the messages)."""
    directory = os.environ.get("RENDER_VALUES_DIR")
    if directory:
        path = Path(directory) / f"{env}.json"
        return values_from_file(path), str(path)
    ssm_path = os.environ.get("RENDER_VALUES_SSM_PATH") or f"/incident-tracker/{env}/deploy"
    return values_from_ssm(ssm_path), f"SSM {ssm_path}"


def fill(env: str, kustomize: Path, values_out: Path) -> None:
    wanted = placeholder_keys(env, kustomize)
    keys = set().union(*wanted.values())
    values, source = load_values(env)
    if "OIDC_ALB_ARN" in keys and "OIDC_ALB_ARN" not in values and values.get("LOAD_BALANCER_NAME"):
        values["OIDC_ALB_ARN"] = load_balancer_arn(values["LOAD_BALANCER_NAME"])
    missing = sorted(keys - values.keys())
    if missing:
        raise RenderError(f"no value for {', '.join(missing)} in {source}")
    # Every value, used in the manifests or by ci/deploy (OIDC_CLIENT_SECRET_ARN).
    unfilled = sorted(key for key in values if PLACEHOLDER_RE.search(values[key]))
    if unfilled:
        shown = "; ".join(f"{key}={values[key]!r}" for key in unfilled)
        raise RenderError(f"{source} still holds a placeholder: {shown}")
    for path in wanted:
        text = path.read_text()
        path.write_text(KEY_RE.sub(lambda match: values[match.group(1)], text))
    values_out.write_text(json.dumps(dict(sorted(values.items())), indent=2) + "\n")


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 4 and argv[0] == "fill":
            fill(argv[1], Path(argv[2]), Path(argv[3]))
        elif len(argv) == 3 and argv[0] == "wait-alb" and argv[2].isdigit():
            print(wait_for_load_balancer(argv[1], int(argv[2])))
        else:
            print(
                "usage: render_values.py fill ENV KUSTOMIZE_COPY VALUES_OUT"
                " | wait-alb NAME SECONDS",
                file=sys.stderr,
            )
            return 2
    except RenderError as error:
        print(f"ci/render: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
