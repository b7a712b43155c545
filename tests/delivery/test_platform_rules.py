"""AWS platform rules our Terraform and manifests must obey (issue 16), one test per rule,
each citing the AWS (or controller) documentation page that states it.

The Terraform modules' own rules (ECR lifecycle, vpc-cni NetworkPolicy, ACM/Route 53, RDS
backups) are asserted by `terraform test` files beside each module (terraform/modules/*/tests),
which ci/terraform-check runs; here: that they exist and cite their page, and the rules that
span an environment root and the manifests.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.hcl import load

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
KUSTOMIZE = ROOT / "kustomize"
ENVIRONMENTS = ("dev", "prod")

# Amazon EKS end of standard support per minor version (14 months after release on EKS):
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions.html
EKS_END_OF_STANDARD_SUPPORT = {
    "1.32": datetime.date(2026, 3, 23),
    "1.33": datetime.date(2026, 7, 29),
    "1.34": datetime.date(2026, 12, 2),
    "1.35": datetime.date(2027, 3, 27),
}
# The day issue 16 was reviewed; a version must stay in standard support for a quarter after it,
# the time an upgrade (dev, then prod, one minor at a time) takes.
REVIEWED = datetime.date(2026, 12, 1)
UPGRADE_LEAD_TIME = datetime.timedelta(days=90)


def stack(env: str) -> dict[str, Any]:
    main = load(TERRAFORM / "environments" / env / "main.tf")
    (call,) = [entry["stack"] for entry in main["module"] if "stack" in entry]
    return call  # type: ignore[no-any-return]


def minor(version: str) -> tuple[int, int]:
    major, minor_number = version.split(".")
    return int(major), int(minor_number)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kubernetes_version_is_in_eks_standard_support(env: str) -> None:
    version = stack(env)["kubernetes_version"]
    assert version in EKS_END_OF_STANDARD_SUPPORT, f"{version}: add its dates from the EKS calendar"
    ends = EKS_END_OF_STANDARD_SUPPORT[version]
    assert ends - REVIEWED >= UPGRADE_LEAD_TIME, (
        f"{env} runs {version}, standard support ends {ends}"
    )


def test_upgrade_policy_never_lets_eks_upgrade_prod_before_dev() -> None:
    # support_type STANDARD: EKS upgrades the control plane at the end of standard support;
    # EXTENDED keeps the version (billed). Upgrades go one minor version at a time.
    # https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
    # https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html
    dev, prod = stack("dev"), stack("prod")
    assert dev["kubernetes_support_type"] in {"STANDARD", "EXTENDED"}
    assert prod["kubernetes_support_type"] == "EXTENDED"
    dev_major, dev_minor = minor(dev["kubernetes_version"])
    prod_major, prod_minor = minor(prod["kubernetes_version"])
    assert dev_major == prod_major and prod_minor <= dev_minor <= prod_minor + 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_overlay_serves_the_host_terraform_certifies(env: str) -> None:
    # The ALB serves the ACM certificate of the Ingress host; Terraform issues it for `hostname`.
    # https://docs.aws.amazon.com/eks/latest/userguide/auto-configure-alb.html
    def ingress_operations(kustomization: Path) -> list[dict[str, Any]]:
        patches = yaml.safe_load(kustomization.read_text())["patches"]
        return [
            operation
            for patch in patches
            if patch["target"]["kind"] == "Ingress"
            for operation in yaml.safe_load(patch["patch"])
        ]

    operations = ingress_operations(KUSTOMIZE / "overlays" / env / "kustomization.yaml")
    hosts = [op["value"] for op in operations if op["path"] == "/spec/rules/0/host"]
    assert hosts == [stack(env)["hostname"]]
    # The certificate Terraform issued for that host: its ARN, filled in by ci/render from the
    # stack's deploy_values (CERTIFICATE_ARN = module.dns.certificate_arn).
    values = ingress_operations(
        KUSTOMIZE / "components" / "terraform-values" / "kustomization.yaml"
    )
    assert [op["value"] for op in values if op["path"].endswith("certificate-arn")] == [
        "${CERTIFICATE_ARN}"
    ]
    assert re.search(
        r"CERTIFICATE_ARN\s*=\s*module\.dns\.certificate_arn",
        (ROOT / "terraform" / "modules" / "stack" / "main.tf").read_text(),
    )


def external_dns() -> list[dict[str, Any]]:
    path = KUSTOMIZE / "cluster" / "external-dns.yaml"
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_external_dns_writes_only_alb_hosts_and_never_deletes() -> None:
    # The ALB's DNS name exists only once the controller has created it from the Ingress:
    # external-dns writes the alias record. Flags:
    # https://kubernetes-sigs.github.io/external-dns/latest/docs/tutorials/aws/
    docs = external_dns()
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = set(container["args"])
    assert {
        "--source=ingress",
        "--ingress-class=alb",
        "--provider=aws",
        "--policy=upsert-only",
    } <= args
    assert not any(arg.startswith("--source=") and arg != "--source=ingress" for arg in args)
    (role,) = [d for d in docs if d["kind"] == "ClusterRole"]
    assert role["rules"] == [
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    # Its AWS role comes through EKS Pod Identity, associated (modules/dns, asserted by its
    # terraform test) with exactly this namespace and service account, so no annotation.
    # https://docs.aws.amazon.com/eks/latest/userguide/pod-id-association.html
    (account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert account["metadata"] == {"name": "external-dns", "namespace": "external-dns"}
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "external-dns"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_external_dns_manifest_is_valid_for_the_cluster_version(env: str) -> None:
    for doc in external_dns():
        kubernetes_validate.validate(doc, stack(env)["kubernetes_version"], strict=True)


@pytest.mark.parametrize(
    "module", ["registry", "cluster", "dns", "database", "identities", "network"]
)
def test_each_changed_module_has_terraform_tests_citing_aws_documentation(module: str) -> None:
    tests = sorted((TERRAFORM / "modules" / module / "tests").glob("*.tftest.hcl"))
    assert tests, f"terraform/modules/{module} has no terraform test"
    for path in tests:
        text = path.read_text()
        assert 'mock_provider "aws"' in text, path  # offline: nothing planned against AWS
        assert re.search(r"https://docs\.aws\.amazon\.com/\S+\.html", text), path
