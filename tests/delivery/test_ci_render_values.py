"""ci/render fills the overlays' account-specific values from what Terraform wrote, and
refuses to render while one is missing or still a placeholder (no placeholder reaches a
cluster). The SSM side runs against moto_server; rendering uses the real kubectl."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.deploy_steps import (
    IMAGE,
    OIDC_CLIENTS,
    RENDER_VALUES_DIR,
    aws_client,
    calls,
    run_step,
)
from tests.support.programs import moto_server

ROOT = Path(__file__).resolve().parents[2]
KEY_RE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def values(env: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((RENDER_VALUES_DIR / f"{env}.json").read_text())
    return loaded


def committed_keys() -> set[str]:
    """Every ${KEY} the overlays and components hold."""
    files = [*(ROOT / "kustomize" / "overlays").rglob("*.yaml")]
    files += [*(ROOT / "kustomize" / "components").rglob("*.yaml")]
    return {key for path in files for key in KEY_RE.findall(path.read_text())}


@pytest.fixture(scope="module")
def ssm() -> Iterator[dict[str, str]]:
    """moto_server as the account: the environment for a step to read its SSM parameters.
    Shared by this module's tests; each writes under a path of its own."""
    with moto_server() as endpoint:
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "RENDER_VALUES_DIR": "",  # the pipelines' source: SSM
        }


def put_parameters(env: dict[str, str], path: str, parameters: dict[str, str]) -> None:
    client = aws_client("ssm", env)
    for key, value in parameters.items():
        client.put_parameter(Name=f"{path}/{key}", Value=value, Type="String")


def test_the_committed_overlays_hold_no_account_value() -> None:
    """Every account-specific value is a ${KEY}: none is copied by hand into kustomize/."""
    for path in (ROOT / "kustomize").rglob("*.yaml"):
        text = path.read_text()
        assert not re.search(r"arn:aws:|\b\d{12}\b|rds\.amazonaws\.com", text), path
    assert {"APP_ROLE_ARN", "DB_SECRET_ARN", "CERTIFICATE_ARN", "OIDC_ISSUER"} <= committed_keys()
    for env in ("dev", "prod"):
        # ci/deploy reads OIDC_CLIENT_SECRET_ARN itself (the Secret incident-tracker-oidc).
        expected = committed_keys() | {"OIDC_CLIENT_SECRET_ARN"}
        assert set(values(env)) == expected, f"kustomize/check-values/{env}.json"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_render_without_values_is_refused(env: str, ssm: dict[str, str], tmp_path: Path) -> None:
    """The committed overlays, with no parameter written yet (no test writes the default
    path): refused, nothing rendered."""
    result = run_step("render", env, IMAGE, str(tmp_path), env=ssm)
    assert result.returncode != 0
    assert f"no SSM parameter under /incident-tracker/{env}/deploy" in result.stderr
    assert "no placeholder may reach a cluster" in result.stderr
    assert not (tmp_path / "manifests.yaml").exists()


def test_render_names_each_missing_key(ssm: dict[str, str], tmp_path: Path) -> None:
    partial = {k: v for k, v in values("dev").items() if k not in {"DB_HOST", "OIDC_ISSUER"}}
    put_parameters(ssm, "/partial/dev/deploy", partial)
    env = ssm | {"RENDER_VALUES_SSM_PATH": "/partial/dev/deploy"}
    result = run_step("render", "dev", IMAGE, str(tmp_path), env=env)
    assert result.returncode != 0
    assert "no value for DB_HOST, OIDC_ISSUER in SSM /partial/dev/deploy" in result.stderr
    assert not (tmp_path / "manifests.yaml").exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("APP_ROLE_ARN", "arn:aws:iam::111122223333:role/incident-tracker-dev-app"),
        ("OIDC_ISSUER", "https://idp.example.com"),
        ("DB_HOST", "${DB_HOST}"),
        ("CERTIFICATE_ARN", "CHANGE_ME"),
    ],
)
def test_render_refuses_a_value_that_is_still_a_placeholder(
    key: str, value: str, tmp_path: Path
) -> None:
    (tmp_path / "values").mkdir()
    (tmp_path / "values" / "dev.json").write_text(json.dumps(values("dev") | {key: value}))
    out = tmp_path / "out"
    result = run_step(
        "render", "dev", IMAGE, str(out), env={"RENDER_VALUES_DIR": str(tmp_path / "values")}
    )
    assert result.returncode != 0
    assert f"still holds a placeholder: {key}=" in result.stderr
    assert not (out / "manifests.yaml").exists()


def test_deploy_applies_nothing_without_values(ssm: dict[str, str], tmp_path: Path) -> None:
    result = run_step(
        "deploy", "dev", IMAGE, env=ssm | {"KUBECTL": str(tmp_path / "never")}, tmp_path=tmp_path
    )
    assert result.returncode != 0
    assert "no placeholder may reach a cluster" in result.stderr
    assert calls(tmp_path) == []


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_render_fills_the_values_terraform_wrote_to_ssm(
    env: str, ssm: dict[str, str], tmp_path: Path
) -> None:
    expected = values(env)
    put_parameters(ssm, f"/filled/{env}/deploy", expected)
    # Another environment's parameters are never read.
    put_parameters(ssm, f"/filled/{env}/deploy-other", {"DB_HOST": "other.internal"})
    put_parameters(ssm, f"/filled/{env}/deploy/nested", {"DB_HOST": "nested.internal"})
    step_env = ssm | {"RENDER_VALUES_SSM_PATH": f"/filled/{env}/deploy"}
    result = run_step("render", env, IMAGE, str(tmp_path), env=step_env)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "manifests.yaml").read_text()
    assert "${" not in text and "111122223333:" not in text.replace(IMAGE, "")
    assert "other.internal" not in text and "nested.internal" not in text
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    for key in ("AWS_REGION", "DB_HOST", "DB_SECRET_ARN", "DB_MASTER_SECRET_ARN", "SECRET_KEY_ARN"):
        assert config[key] == expected[key]
    assert config["OIDC_GROUP_SCOPES"] == expected["OIDC_GROUP_SCOPES"]
    roles = {
        d["metadata"]["name"]: d["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for d in docs
        if d["kind"] == "ServiceAccount"
    }
    assert roles == {
        "incident-tracker": expected["APP_ROLE_ARN"],
        "incident-tracker-migrate": expected["MIGRATE_ROLE_ARN"],
    }
    for ingress in (d for d in docs if d["kind"] == "Ingress"):
        notes = ingress["metadata"]["annotations"]
        assert notes["alb.ingress.kubernetes.io/certificate-arn"] == expected["CERTIFICATE_ARN"]
        idp = json.loads(notes["alb.ingress.kubernetes.io/auth-idp-oidc"])
        assert idp["issuer"] == expected["OIDC_ISSUER"]
        assert idp["tokenEndpoint"] == expected["OIDC_TOKEN_ENDPOINT"]
    assert json.loads((tmp_path / "values.json").read_text()) == expected


def make_load_balancer(env: dict[str, str], name: str) -> str:
    """An ALB called NAME in moto_server's account, as EKS makes it from the Ingress; its ARN."""
    ec2 = aws_client("ec2", env)
    vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.10.{i}.0/24", AvailabilityZone=f"eu-west-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in enumerate("ab")
    ]
    elbv2 = aws_client("elbv2", env)
    created = elbv2.create_load_balancer(Name=name, Subnets=subnets)["LoadBalancers"][0]
    return str(created["LoadBalancerArn"])


def config_and_ui_ingress(outdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    docs = [d for d in yaml.safe_load_all((outdir / "manifests.yaml").read_text()) if d]
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    ui = next(
        d for d in docs if d["kind"] == "Ingress" and d["metadata"]["name"] == "incident-tracker"
    )
    return config, ui["metadata"]["annotations"]


# The signer the service checks is the ALB's ARN, which exists only once EKS made the ALB from
# the Ingress; its name is fixed by the Ingress annotation load-balancer-name (Exclusive in an
# IngressGroup: set on one Ingress):
# https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/ingress/annotations/
# EKS Auto Mode reads the Ingress's annotations (none on an IngressClass):
# https://docs.aws.amazon.com/eks/latest/userguide/auto-configure-alb.html
def test_render_finds_the_load_balancer_arn_by_the_ingress_name(
    ssm: dict[str, str], tmp_path: Path
) -> None:
    arn = make_load_balancer(ssm, "it-found-dev")
    given = {k: v for k, v in values("dev").items() if k != "OIDC_ALB_ARN"}
    put_parameters(ssm, "/alb/dev/deploy", given | {"LOAD_BALANCER_NAME": "it-found-dev"})
    env = ssm | {"RENDER_VALUES_SSM_PATH": "/alb/dev/deploy"}
    result = run_step("render", "dev", IMAGE, str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    config, ui = config_and_ui_ingress(tmp_path)
    assert config["OIDC_ALB_ARN"] == arn
    assert ui["alb.ingress.kubernetes.io/load-balancer-name"] == "it-found-dev"


def test_before_the_first_deploy_the_arn_is_empty_and_deploy_waits_for_it(
    ssm: dict[str, str], tmp_path: Path, kubectl: Path
) -> None:
    """No load balancer yet: rendered with OIDC_ALB_ARN "" (the token form), and ci/deploy,
    after its rollout, waits for the load balancer to deploy again with its ARN."""
    given = {k: v for k, v in values("dev").items() if k != "OIDC_ALB_ARN"}
    put_parameters(ssm, "/first/dev/deploy", given | {"LOAD_BALANCER_NAME": "it-not-yet-dev"})
    env = ssm | {"RENDER_VALUES_SSM_PATH": "/first/dev/deploy"}
    result = run_step("render", "dev", IMAGE, str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr
    config, _ = config_and_ui_ingress(tmp_path / "out")
    assert config["OIDC_ALB_ARN"] == ""
    aws_client("secretsmanager", ssm).create_secret(
        Name="incident-tracker-dev/oidc-client", SecretString=json.dumps(OIDC_CLIENTS["dev"])
    )
    deploy_env = env | {"KUBECTL": str(kubectl), "ALB_WAIT_SECONDS": "0"}
    result = run_step("deploy", "dev", IMAGE, env=deploy_env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "waiting for load balancer it-not-yet-dev" in result.stderr
    assert "no load balancer it-not-yet-dev yet" in result.stderr
    assert [call for call in calls(tmp_path) if "rollout" in call]  # after the rollout
