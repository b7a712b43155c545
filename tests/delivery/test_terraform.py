"""Terraform for AWS (terraform/): static checks, checkov, and the properties that matter.

The property tests read the HCL with python-hcl2 and assert what must hold whatever the
values: RDS private and reachable from the EKS nodes only, subnet tags for the load balancer
controller, ECR immutable, no open ingress, CI trust pinned to this repository.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from incident_tracker.auth.service import TOKEN_PREFIX
from tests.support.hcl import load

REPO_ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = REPO_ROOT / "terraform"
MODULES = TERRAFORM / "modules"
ENVIRONMENTS = TERRAFORM / "environments"
ROOTS = [TERRAFORM / "bootstrap", *sorted(p for p in ENVIRONMENTS.iterdir() if p.is_dir())]
REQUIRED_MODULES = [
    "network",
    "cluster",
    "database",
    "registry",
    "identities",
    "kms-key",
    "app-secrets",
    "dns",
    "runner",
]
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
LOAD_BALANCER_PORTS = {80, 443}


# --------------------------------------------------------------------------- HCL helpers


def blocks(directory: Path, kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every `resource` or `data` block in a directory's .tf files."""
    for path in sorted(directory.glob("*.tf")):
        for entry in load(path).get(kind, []):
            for type_name, named in entry.items():
                for name, body in named.items():
                    yield type_name, name, body


def resources(directory: Path, type_name: str) -> dict[str, dict[str, Any]]:
    return {name: body for kind, name, body in blocks(directory, "resource") if kind == type_name}


def data_source(directory: Path, type_name: str, name: str) -> dict[str, Any]:
    for kind, found, body in blocks(directory, "data"):
        if kind == type_name and found == name:
            return body
    raise AssertionError(f"data.{type_name}.{name} not found in {directory}")


def merged(directory: Path, key: str) -> dict[str, Any]:
    """All `locals` (or similar single-body blocks) of a directory merged into one dict."""
    values: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for entry in load(path).get(key, []):
            values.update(entry)
    return values


def module_calls(directory: Path) -> dict[str, dict[str, Any]]:
    return merged(directory, "module")


def variables(directory: Path) -> dict[str, dict[str, Any]]:
    return merged(directory, "variable")


def one(body: dict[str, Any], block: str) -> dict[str, Any]:
    """The single nested block `block` of a body (hcl2 gives nested blocks as lists)."""
    items = body[block]
    assert isinstance(items, list) and len(items) == 1, f"expected one {block} block"
    return items[0]  # type: ignore[no-any-return]


def all_tf_dirs() -> list[Path]:
    return sorted({p.parent for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts})


def run_step(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / command[0]), *command[1:]],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


# --------------------------------------------------------------------------- tools


def test_terraform_fmt_init_validate() -> None:
    result = run_step("ci/terraform-check")
    output = result.stdout + result.stderr
    if result.returncode == 3:
        reason = next((line for line in output.splitlines() if "skipped:" in line), output)
        pytest.skip(reason.strip())
    assert result.returncode == 0, output
    assert f"passed for {len(ROOTS)} roots" in output, output
    # terraform test (mock_provider "aws") in each module that has *.tftest.hcl files.
    tested = {p.parent.parent for p in TERRAFORM.rglob("tests/*.tftest.hcl")}
    assert tested and f"terraform test passed for {len(tested)} modules" in output, output


def test_terraform_check_without_a_mirror_uses_the_registry_or_says_it_cannot(
    tmp_path: Path,
) -> None:
    """GitHub runners and Jenkins agents have no provider mirror: init from the registry there;
    offline, skip (exit 3) naming the reason instead of failing."""
    result = subprocess.run(
        [str(REPO_ROOT / "ci" / "terraform-check")],
        cwd=REPO_ROOT,
        env={**os.environ, "TF_PLUGIN_MIRROR": str(tmp_path)},  # no providers in it
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    output = result.stdout + result.stderr
    if "the Terraform registry is unreachable" in output:
        assert result.returncode == 3, output
        assert output.startswith("skipped: no local mirror"), output
    else:
        assert result.returncode == 0, output
        assert "providers from the Terraform registry" in output, output


def test_checkov_terraform_has_no_failures() -> None:
    result = run_step("ci/scan", "terraform")
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("module", REQUIRED_MODULES)
def test_module_has_the_standard_files(module: str) -> None:
    for name in ["main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"]:
        assert (MODULES / module / name).is_file(), f"terraform/modules/{module}/{name} missing"


def _admits(constraint: str, version: tuple[int, ...]) -> bool:
    operators = {
        ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        "<": lambda a, b: a < b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
    }
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(>=|<=|!=|>|<|=|~>)?\s*([0-9.]+)\s*", part)
        assert match, f"unparsed constraint {constraint!r}"
        operator, number = match.group(1) or "=", match.group(2)
        bound = tuple(int(x) for x in number.split("."))
        bound = bound + (0,) * (len(version) - len(bound))
        if operator == "~>":
            given = number.split(".")
            upper = [int(x) for x in given[:-1]]
            upper[-1] += 1
            if not (version >= bound and version[: len(upper)] < tuple(upper)):
                return False
        elif not operators[operator](version, bound):
            return False
    return True


@pytest.mark.parametrize("directory", all_tf_dirs(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_aws_provider_constraint_admits_5_100(directory: Path) -> None:
    terraform_blocks = merged(directory, "terraform")
    assert terraform_blocks, "versions.tf with a terraform block expected"
    aws = one(terraform_blocks, "required_providers")["aws"]
    assert aws["source"] == "hashicorp/aws"
    assert _admits(aws["version"], (5, 100, 0)), aws["version"]


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_each_root_commits_a_lock_file_for_5_100(root: Path) -> None:
    lock = (root / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert 'version     = "5.100.0"' in lock


def test_environment_roots_keep_state_in_s3_with_locking() -> None:
    keys = set()
    for root in sorted(p for p in ENVIRONMENTS.iterdir() if p.is_dir()):
        backend = one(merged(root, "terraform"), "backend")
        s3 = backend["s3"]
        assert s3["use_lockfile"] is True, root.name
        assert s3["encrypt"] is True, root.name
        keys.add(s3["key"])
    assert len(keys) == len([p for p in ENVIRONMENTS.iterdir() if p.is_dir()]), "keys must differ"


def test_dev_and_prod_roots_share_their_inputs_and_outputs() -> None:
    """A root cannot include another directory's files, so dev and prod each declare their
    inputs and outputs; the copies must stay identical (what differs is in main.tf)."""
    dev, prod = ENVIRONMENTS / "dev", ENVIRONMENTS / "prod"
    for name in ["variables.tf", "outputs.tf"]:
        assert (dev / name).read_text() == (prod / name).read_text(), f"{name} differs"


def test_environment_roots_versions_differ_only_in_the_state_key() -> None:
    """Backend and provider requirements must sit in each root; one text for all of them."""
    texts = {
        root.name: re.sub(
            r'(?m)^(\s*key\s*=\s*)".*"$', r'\1"..."', (root / "versions.tf").read_text()
        )
        for root in ENVIRONMENTS.iterdir()
        if root.is_dir()
    }
    assert len(set(texts.values())) == 1, f"versions.tf differ beyond the key: {sorted(texts)}"


def test_one_terraform_and_provider_constraint_everywhere() -> None:
    """Every root and module requires the same Terraform and hashicorp/aws versions."""
    found: set[tuple[str, str, str]] = set()
    for directory in all_tf_dirs():
        block = merged(directory, "terraform")
        aws = one(block, "required_providers")["aws"]
        found.add((block["required_version"], aws["source"], aws["version"]))
    assert len(found) == 1, found


def test_no_registry_modules() -> None:
    for directory in all_tf_dirs():
        for name, call in module_calls(directory).items():
            assert call["source"].startswith("../"), f"{directory}: module {name} is not local"


# --------------------------------------------------------------------------- network


def test_subnets_carry_the_load_balancer_tags() -> None:
    network = MODULES / "network"
    local_values = merged(network, "locals")
    assert local_values["public_subnet_tags"]["kubernetes.io/role/elb"] == "1"
    assert local_values["private_subnet_tags"]["kubernetes.io/role/internal-elb"] == "1"
    subnets = resources(network, "aws_subnet")
    assert "local.public_subnet_tags" in subnets["public"]["tags"]
    assert "local.private_subnet_tags" in subnets["private"]["tags"]
    assert subnets["public"]["map_public_ip_on_launch"] is False


def test_network_has_nat_flow_logs_and_a_locked_default_security_group() -> None:
    network = MODULES / "network"
    assert resources(network, "aws_nat_gateway")
    flow_log = resources(network, "aws_flow_log")["this"]
    assert flow_log["traffic_type"] == "ALL"
    default_sg = resources(network, "aws_default_security_group")["this"]
    assert "ingress" not in default_sg and "egress" not in default_sg
    azs = variables(network)["azs"]
    assert "length(var.azs) >= 2" in one(azs, "validation")["condition"]


def _ingress_rules() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ingress rule in terraform/, in all three spellings Terraform allows."""
    for directory in all_tf_dirs():
        where = str(directory.relative_to(TERRAFORM))
        for name, group in resources(directory, "aws_security_group").items():
            for rule in group.get("ingress", []) or []:
                yield f"{where}: aws_security_group.{name}", rule
        for name, rule in resources(directory, "aws_security_group_rule").items():
            if rule.get("type") == "ingress":
                yield f"{where}: aws_security_group_rule.{name}", rule
        for name, rule in resources(directory, "aws_vpc_security_group_ingress_rule").items():
            yield f"{where}: aws_vpc_security_group_ingress_rule.{name}", rule


def _opens_more_than_a_load_balancer_port(rule: dict[str, Any]) -> bool:
    """Open to the internet on anything but exactly port 80 or 443 (a range 80-443 is not)."""
    cidrs = set(rule.get("cidr_blocks", []) or []) | set(rule.get("ipv6_cidr_blocks", []) or [])
    cidrs |= {rule[k] for k in ("cidr_ipv4", "cidr_ipv6") if k in rule}
    if not cidrs & OPEN_CIDRS:
        return False
    port = rule.get("from_port")
    return port != rule.get("to_port") or port not in LOAD_BALANCER_PORTS


def test_no_ingress_from_anywhere_except_load_balancer_ports() -> None:
    rules = list(_ingress_rules())
    assert rules, "expected at least the RDS rule"
    for where, rule in rules:
        assert not _opens_more_than_a_load_balancer_port(rule), f"{where} open to the internet"


@pytest.mark.parametrize(
    ("rule", "too_open"),
    [
        ({"cidr_ipv4": "0.0.0.0/0", "from_port": 443, "to_port": 443}, False),
        ({"cidr_blocks": ["0.0.0.0/0"], "from_port": 80, "to_port": 80}, False),
        ({"cidr_ipv4": "10.0.0.0/16", "from_port": 0, "to_port": 65535}, False),
        ({"cidr_ipv4": "0.0.0.0/0", "from_port": 80, "to_port": 443}, True),
        ({"ipv6_cidr_blocks": ["::/0"], "from_port": 22, "to_port": 22}, True),
        ({"cidr_ipv6": "::/0", "from_port": 0, "to_port": 65535}, True),
    ],
)
def test_the_open_ingress_rule_check_refuses_port_ranges(
    rule: dict[str, Any], too_open: bool
) -> None:
    assert _opens_more_than_a_load_balancer_port(rule) is too_open


def test_api_endpoint_cannot_be_opened_to_everyone() -> None:
    cluster = MODULES / "cluster"
    cidrs = variables(cluster)["endpoint_public_access_cidrs"]
    assert cidrs["default"] == []
    assert '"0.0.0.0/0"' in one(cidrs, "validation")["condition"]
    vpc = one(resources(cluster, "aws_eks_cluster")["this"], "vpc_config")
    assert vpc["endpoint_private_access"] is True
    assert (
        "length(var.endpoint_public_access_cidrs) > 0" in merged(cluster, "locals")["public_access"]
    )


# --------------------------------------------------------------------------- cluster


def test_cluster_logs_encryption_imdsv2_private_nodes_and_load_balancing() -> None:
    cluster = MODULES / "cluster"
    eks = resources(cluster, "aws_eks_cluster")["this"]
    assert set(eks["enabled_cluster_log_types"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    encryption = one(eks, "encryption_config")
    assert encryption["resources"] == ["secrets"]
    assert one(encryption, "provider")["key_arn"] == "${module.kms.arn}"
    assert module_calls(cluster)["kms"]["source"] == "../kms-key"
    assert one(eks, "access_config")["authentication_mode"] == "API"
    # EKS Auto Mode load balancing (the AWS-managed load balancer controller): the three
    # capabilities are switched on together; no Auto Mode node pools, workloads stay on the
    # managed node group.
    assert one(eks, "compute_config") == {"enabled": True, "node_pools": []}
    network_config = one(eks, "kubernetes_network_config")
    assert one(network_config, "elastic_load_balancing")["enabled"] is True
    assert one(one(eks, "storage_config"), "block_storage")["enabled"] is True

    metadata = one(resources(cluster, "aws_launch_template")["node"], "metadata_options")
    assert metadata["http_tokens"] == "required"
    assert metadata["http_put_response_hop_limit"] == 1
    nodes = resources(cluster, "aws_eks_node_group")["default"]
    assert nodes["subnet_ids"] == "${var.subnet_ids}"
    assert resources(cluster, "aws_iam_openid_connect_provider")["this"]

    stack = module_calls(MODULES / "stack")
    assert stack["cluster"]["subnet_ids"] == "${module.network.private_subnet_ids}"


KMS_KEY_MODULE = MODULES / "kms-key"


def test_every_kms_key_rotates() -> None:
    # Every key is made by modules/kms-key (one aws_kms_key, rotation a literal true) and
    # called from bootstrap, network, cluster, database and registry.
    keys = [(d, n, k) for d in all_tf_dirs() for n, k in resources(d, "aws_kms_key").items()]
    assert [(d, n) for d, n, _ in keys] == [(KMS_KEY_MODULE, "this")], keys
    for directory, name, key in keys:
        assert key["enable_key_rotation"] is True, f"{directory}: aws_kms_key.{name}"
        assert key["policy"], f"{directory}: aws_kms_key.{name} has no key policy"
    assert variables(KMS_KEY_MODULE)["deletion_window_in_days"]["default"] == 30
    callers = [
        (directory, name)
        for directory in all_tf_dirs()
        for name, call in module_calls(directory).items()
        if call["source"] in ("../kms-key", "../modules/kms-key")
    ]
    assert {d.relative_to(TERRAFORM).as_posix() for d, _ in callers} == {
        "bootstrap",
        "modules/network",
        "modules/cluster",
        "modules/database",
        "modules/registry",
    }
    assert len(callers) >= 5
    for directory, name in callers:
        assert "deletion_window_in_days" not in module_calls(directory)[name], directory


# --------------------------------------------------------------------------- database


def test_rds_is_private_encrypted_and_in_private_subnets() -> None:
    database = MODULES / "database"
    rds = resources(database, "aws_db_instance")["this"]
    assert rds["publicly_accessible"] is False
    assert rds["storage_encrypted"] is True
    assert rds["manage_master_user_password"] is True
    assert "password" not in rds
    assert rds["iam_database_authentication_enabled"] is True
    assert rds["performance_insights_enabled"] is True
    assert set(rds["enabled_cloudwatch_logs_exports"]) >= {"postgresql"} or (
        rds["enabled_cloudwatch_logs_exports"] == "${local.log_exports}"
        and "postgresql" in merged(database, "locals")["log_exports"]
    )
    assert rds["db_subnet_group_name"] == "${aws_db_subnet_group.this.name}"
    assert rds["vpc_security_group_ids"] == ["${aws_security_group.this.id}"]
    assert resources(database, "aws_db_subnet_group")["this"]["subnet_ids"] == "${var.subnet_ids}"
    stack = module_calls(MODULES / "stack")
    assert stack["database"]["subnet_ids"] == "${module.network.private_subnet_ids}"

    parameters = resources(database, "aws_db_parameter_group")["this"]["parameter"]
    assert {"name": "rds.force_ssl", "value": "1"} in parameters


def test_rds_security_group_admits_only_the_nodes_on_5432() -> None:
    database = MODULES / "database"
    group = resources(database, "aws_security_group")["this"]
    assert "ingress" not in group, "no inline rules: every ingress is one reviewed resource"
    rules = [
        rule
        for rule in resources(database, "aws_vpc_security_group_ingress_rule").values()
        if rule["security_group_id"] == "${aws_security_group.this.id}"
    ]
    assert not resources(database, "aws_security_group_rule")
    assert len(rules) == 1
    (rule,) = rules
    assert rule["ip_protocol"] == "tcp"
    assert rule["from_port"] == rule["to_port"] == "${local.port}"
    assert merged(database, "locals")["port"] == 5432
    assert rule["referenced_security_group_id"] == "${var.client_security_group_id}"
    assert not {"cidr_ipv4", "cidr_ipv6", "prefix_list_id"} & rule.keys()

    # ...and that security group is the one every managed node carries.
    stack = module_calls(MODULES / "stack")
    wired = stack["database"]["client_security_group_id"]
    assert wired == "${module.cluster.node_security_group_id}"
    cluster = MODULES / "cluster"
    outputs = merged(cluster, "output")
    assert outputs["node_security_group_id"]["value"] == "${aws_security_group.node.id}"
    template = resources(cluster, "aws_launch_template")["node"]
    assert "${aws_security_group.node.id}" in template["vpc_security_group_ids"]


def test_prod_database_is_multi_az_protected_and_backed_up() -> None:
    prod = module_calls(ENVIRONMENTS / "prod")["stack"]["database"]
    assert prod["multi_az"] is True
    assert prod["deletion_protection"] is True
    assert prod["backup_retention_period"] >= 7
    dev = module_calls(ENVIRONMENTS / "dev")["stack"]["database"]
    assert dev["backup_retention_period"] >= 1


# --------------------------------------------------------------------------- registry


def test_ecr_is_immutable_scanned_encrypted_and_pruned() -> None:
    registry = MODULES / "registry"
    repository = resources(registry, "aws_ecr_repository")["this"]
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert one(repository, "image_scanning_configuration")["scan_on_push"] is True
    assert one(repository, "encryption_configuration")["encryption_type"] == "KMS"
    assert resources(registry, "aws_ecr_lifecycle_policy")["this"]
    shared = module_calls(ENVIRONMENTS / "shared")
    assert shared["registry"]["source"] == "../../modules/registry"


# --------------------------------------------------------------------------- identities


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document.get("statement", []))


def _conditions(statement: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["variable"]: c for c in statement.get("condition", [])}


def _assert_ci_role_trust(role: str, key: str, provider: str, entry: str) -> None:
    """aws_iam_role.ROLE takes its trust policy from the CI roles' one trust document,
    ci_assume[KEY], whose entry in local.ci_role_trust is ENTRY, from the identity provider
    local.PROVIDER. That document: for each role, a statement per identity provider that
    web-identity tokens of exactly its subjects (:sub) for STS (:aud) may assume the role,
    both StringEquals."""
    identities = MODULES / "identities"
    trust = data_source(identities, "aws_iam_policy_document", "ci_assume")
    assert trust["for_each"] == "${local.ci_role_trust}"
    (dynamic,) = trust["dynamic"]
    assert dynamic["statement"]["for_each"] == "${each.value}"
    statement = one(dynamic["statement"], "content")
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert one(statement, "principals") == {
        "type": "Federated",
        "identifiers": ["${statement.value.provider_arn}"],
    }
    conditions = _conditions(statement)
    assert set(conditions) == {"${statement.value.issuer}:aud", "${statement.value.issuer}:sub"}
    audience = conditions["${statement.value.issuer}:aud"]
    assert (audience["test"], audience["values"]) == ("StringEquals", ["sts.amazonaws.com"])
    subject = conditions["${statement.value.issuer}:sub"]
    assert subject["test"] == "StringEquals", "exact match, never StringLike wildcards"
    assert subject["values"] == "${statement.value.subjects}"

    local = merged(identities, "locals")
    assert local[provider] == PROVIDERS[provider]
    assert entry in local["ci_role_trust"]
    policy = resources(identities, "aws_iam_role")[role]["assume_role_policy"]
    assert policy == f'${{data.aws_iam_policy_document.ci_assume["{key}"].json}}'


# The identity providers of local.ci_role_trust.
PROVIDERS = {
    "github": {
        "provider_arn": "${var.github_oidc_provider_arn}",
        "issuer": "token.actions.githubusercontent.com",
    },
    "jenkins": {
        "provider_arn": "${local.jenkins_provider_arn}",
        "issuer": "${local.jenkins_issuer}",
    },
}


def test_github_role_trusts_only_this_repository_and_branch_or_environment() -> None:
    identities = MODULES / "identities"
    _assert_ci_role_trust(
        "github_deploy",
        "github_deploy",
        "github",
        "github_deploy = [merge(local.github, {subjects = var.github_subjects})]",
    )

    # The subjects: the stack trusts the GitHub environment named like its own, so the dev
    # root's role trusts environment:dev only and the prod root's environment:prod only
    # (deploy.yml's image job runs in the dev environment too: no branch-only subject).
    stack = MODULES / "stack"
    assert module_calls(stack)["identities"]["github_subjects"] == "${local.github_subjects}"
    assert merged(stack, "locals")["github_subjects"] == [
        "repo:${var.github_repository}:environment:${var.environment}"
    ]
    for root in ("dev", "prod"):
        call = module_calls(ENVIRONMENTS / root)["stack"]
        assert call["environment"] == root
        assert call["github_repository"] == "${var.github_repository}"

    # The repository is one OWNER/REPO and the module refuses wildcard subjects.
    condition = one(variables(stack)["github_repository"], "validation")
    pattern = re.search(r'regex\("([^"]+)"', condition["condition"])
    assert pattern, condition
    assert re.fullmatch(pattern.group(1), "example-org/incident-tracker")
    assert not re.fullmatch(pattern.group(1), "example-org/*")
    condition = one(variables(identities)["github_subjects"], "validation")["condition"]
    pattern = re.search(r'regex\("([^"]+)"', condition)
    assert pattern, condition
    accepted = ["repo:o/r:ref:refs/heads/main", "repo:o/r:environment:prod"]
    refused = ["repo:o/*:ref:refs/heads/main", "repo:o/r:*", "repo:o/r:pull_request"]
    assert all(re.fullmatch(pattern.group(1), s) for s in accepted)
    assert not any(re.fullmatch(pattern.group(1), s) for s in refused)


def test_pod_roles_trust_one_service_account_each() -> None:
    identities = MODULES / "identities"
    trust = _statements(data_source(identities, "aws_iam_policy_document", "pod_assume"))
    sub = _conditions(trust[0])["${var.oidc_issuer}:sub"]
    assert sub["values"] == ["system:serviceaccount:${var.namespace}:${each.value.service_account}"]
    pods = merged(identities, "locals")["pods"]
    assert pods["app"]["service_account"] == "${var.service_account}"
    assert pods["migrate"]["service_account"] == "${var.migrate_service_account}"
    assert variables(identities)["service_account"]["default"] == "incident-tracker"
    assert variables(identities)["migrate_service_account"]["default"] == "incident-tracker-migrate"
    assert merged(MODULES / "stack", "locals")["namespace"] == "${var.app_name}-${var.environment}"
    # The names the manifests give the two service accounts.
    manifests = list(
        yaml.safe_load_all((REPO_ROOT / "kustomize/base/serviceaccount.yaml").read_text())
    )
    assert [m["metadata"]["name"] for m in manifests] == [
        "incident-tracker",
        "incident-tracker-migrate",
    ]
    job = yaml.safe_load((REPO_ROOT / "kustomize/base/migration-job.yaml").read_text())
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "incident-tracker-migrate"


# RDS rotates its managed master secret itself (every 7 days by default), and AWS
# "strongly recommend[s]" that applications use a user with the minimal privileges they
# need, not the master user:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_managed.html
def test_only_the_migration_job_reads_the_master_secret() -> None:
    identities = MODULES / "identities"
    pods = merged(identities, "locals")["pods"]
    assert pods["app"]["secrets"] == "${values(var.app_secret_arns)}"
    assert "${var.master_db_secret_arn}" in pods["migrate"]["secrets"]
    assert "${var.app_secret_arns.db}" in pods["migrate"]["secrets"]
    statements = _statements(data_source(identities, "aws_iam_policy_document", "pod_secrets"))
    by_sid = {s["sid"]: s for s in statements}
    assert set(by_sid) == {"ReadSecrets", "DecryptSecrets"}
    assert set(by_sid["ReadSecrets"]["actions"]) == {
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
    }
    assert by_sid["ReadSecrets"]["resources"] == "${each.value.secrets}"
    decrypt = by_sid["DecryptSecrets"]
    assert decrypt["resources"] == ["${var.secrets_kms_key_arn}"]
    assert "kms:ViaService" in _conditions(decrypt)
    stack = module_calls(MODULES / "stack")["identities"]
    assert stack["master_db_secret_arn"] == "${module.database.master_user_secret_arn}"
    assert "master_user_secret_arn" not in str(stack["app_secret_arns"])
    # The pods' DB_SECRET_ARN is the app role's secret; the master one has its own output.
    outputs = merged(MODULES / "stack", "output")
    assert outputs["db_secret_arn"]["value"] == "${module.secrets.app_db_secret_arn}"
    assert outputs["db_master_secret_arn"]["value"] == "${module.database.master_user_secret_arn}"


# A database secret rotated by a Lambda function is rotated with one of AWS's templates; the
# single-user one for PostgreSQL changes the user's own password, which is all our role can
# do. Its short window between database and secret is covered by the app's retry:
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_available-rotation-templates.html
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html
def test_the_app_database_secret_rotates_with_the_postgresql_single_user_function() -> None:
    secrets = MODULES / "app-secrets"
    stack = resources(secrets, "aws_serverlessapplicationrepository_cloudformation_stack")
    application = merged(secrets, "locals")["rotation_application_id"]
    assert application.endswith(
        ":serverlessrepo:us-east-1:297356227824:applications/SecretsManagerRDSPostgreSQLRotationSingleUser"
    )
    assert stack["rotation"]["application_id"] == "${local.rotation_application_id}"
    assert stack["rotation"]["parameters"]["kmsKeyArn"] == "${var.kms_key_arn}"
    rotation = resources(secrets, "aws_secretsmanager_secret_rotation")["app_db"]
    assert rotation["secret_id"] == "${aws_secretsmanager_secret.app_db.id}"
    assert "RotationLambdaARN" in rotation["rotation_lambda_arn"]
    assert one(rotation, "rotation_rules")["automatically_after_days"] == "${var.rotation_days}"


# The rotation templates read engine, host, username, password (dbname, port) from the secret:
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html
def test_the_app_database_secret_holds_what_the_rotation_function_reads() -> None:
    version = resources(MODULES / "app-secrets", "aws_secretsmanager_secret_version")["app_db"]
    value = version["secret_string_wo"]
    for field in ("engine", "host", "username", "password", "dbname", "port"):
        assert re.search(rf"\b{field}\b", value), field
    assert '"postgres"' in value


# The rotation function must reach both the database and Secrets Manager over the network:
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_turn-on-cli.html
def test_the_rotation_function_reaches_the_database_and_secrets_manager() -> None:
    secrets = MODULES / "app-secrets"
    parameters = resources(secrets, "aws_serverlessapplicationrepository_cloudformation_stack")[
        "rotation"
    ]["parameters"]
    assert parameters["vpcSecurityGroupIds"] == "${aws_security_group.rotation.id}"
    assert "var.rotation_subnet_ids" in parameters["vpcSubnetIds"]
    assert module_calls(MODULES / "stack")["secrets"]["rotation_subnet_ids"] == (
        "${module.network.private_subnet_ids}"
    )
    egress = resources(secrets, "aws_vpc_security_group_egress_rule")
    assert egress["rotation_to_database"]["referenced_security_group_id"] == (
        "${var.db_security_group_id}"
    )
    assert egress["rotation_to_secrets_manager"]["from_port"] == 443
    ingress = resources(secrets, "aws_vpc_security_group_ingress_rule")["database_from_rotation"]
    assert ingress["security_group_id"] == "${var.db_security_group_id}"
    assert ingress["referenced_security_group_id"] == "${aws_security_group.rotation.id}"
    assert module_calls(MODULES / "stack")["secrets"]["db_security_group_id"] == (
        "${module.database.security_group_id}"
    )


def test_secret_values_never_reach_code_plan_or_state() -> None:
    secrets = MODULES / "app-secrets"
    versions = resources(secrets, "aws_secretsmanager_secret_version")
    assert set(versions) == {"app_db", "session_key", "smoke_token"}
    for name, version in versions.items():
        assert "secret_string" not in version, f"{name}: a value Terraform would keep in state"
        assert "ephemeral.aws_secretsmanager_random_password" in version["secret_string_wo"]
    # The smoke token has the service's format: TOKEN_PREFIX and 256 random bits.
    assert versions["smoke_token"]["secret_string_wo"].startswith(TOKEN_PREFIX + "${")
    passwords = {name: body for _kind, name, body in blocks(secrets, "ephemeral")}
    assert passwords["smoke_token"]["password_length"] == 43
    assert passwords["smoke_token"]["exclude_punctuation"] is True
    for secret in resources(secrets, "aws_secretsmanager_secret").values():
        assert secret["kms_key_id"] == "${var.kms_key_arn}"
    outputs = merged(MODULES / "stack", "output")
    assert outputs["secret_key_arn"]["value"] == "${module.secrets.session_key_secret_arn}"
    assert outputs["smoke_token_secret_arn"]["value"] == "${module.secrets.smoke_token_secret_arn}"


def test_deployers_are_scoped_to_one_repository_one_cluster_one_namespace() -> None:
    identities = MODULES / "identities"
    deploy = data_source(identities, "aws_iam_policy_document", "deploy")
    for statement in _statements(deploy):
        if statement["resources"] == ["*"]:
            # Neither action takes a resource ARN (ci/render finds the ALB by name):
            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_elasticloadbalancingv2.html
            assert statement["actions"] in (
                ["ecr:GetAuthorizationToken"],
                ["elasticloadbalancing:DescribeLoadBalancers"],
            )
        else:
            assert statement["resources"] in (
                ["${var.ecr_repository_arn}"],
                ["${var.cluster_arn}"],
            )
    push = one(deploy["dynamic"][0]["statement"], "content")
    assert push["resources"] == ["${var.ecr_repository_arn}"]
    association = resources(identities, "aws_eks_access_policy_association")["deployer"]
    scope = one(association, "access_scope")
    assert scope == {"type": "namespace", "namespaces": ["${var.namespace}"]}
    assert association["policy_arn"].endswith("cluster-access-policy/AmazonEKSEditPolicy")
    assert resources(identities, "aws_iam_role")["jenkins"]


def test_jenkins_roles_trust_only_their_environment_s_deploy_service_account() -> None:
    """IRSA subjects per service account: jenkins-deploy-dev for the dev role, -prod for prod;
    the PR pods' service account (ci/jenkins/jenkins.yaml) is trusted by no role."""
    identities = MODULES / "identities"
    _assert_ci_role_trust(
        "jenkins",
        "jenkins_deploy",
        "jenkins",
        "var.jenkins.enabled ? {jenkins_deploy = [merge(local.jenkins, {subjects = "
        '["system:serviceaccount:${var.jenkins.namespace}:${var.jenkins.service_account}"]})]}'
        " : {}",
    )
    # The stack names the account after its environment; no layer sets a shared default.
    assert module_calls(MODULES / "stack")["identities"]["jenkins"] == "${local.jenkins}"
    passed = merged(MODULES / "stack", "locals")["jenkins"]
    assert 'coalesce(var.jenkins.service_account, "jenkins-deploy-${var.environment}")' in passed
    for directory in (identities, MODULES / "stack"):
        jenkins_type = variables(directory)["jenkins"]["type"]
        assert "service_account = optional(string)" in jenkins_type.replace("'", ""), directory
    namespaces = {
        "dev": "${var.jenkins}",
        "prod": '${merge({namespace = "jenkins-release"}, var.jenkins)}',
    }
    for root, passed_jenkins in namespaces.items():
        stack = module_calls(ENVIRONMENTS / root)["stack"]
        assert stack["environment"] == root and stack["jenkins"] == passed_jenkins

    # ...and these are the names the Jenkins pod templates (on the controller) use.
    casc = yaml.safe_load((REPO_ROOT / "ci" / "jenkins" / "jenkins.yaml").read_text())
    accounts = {
        template["name"]: (template["namespace"], template["serviceAccount"])
        for cloud in casc["jenkins"]["clouds"]
        for template in cloud["kubernetes"]["templates"]
    }
    assert accounts["incident-tracker-ci"] == ("jenkins", "jenkins-pr")
    assert accounts["incident-tracker-deploy-dev"] == ("jenkins", "jenkins-deploy-dev")
    assert accounts["incident-tracker-deploy-prod"] == ("jenkins-release", "jenkins-deploy-prod")


# --------------------------------------------------------------------------- documentation


def test_readme_lists_every_checkov_skip() -> None:
    skips = set()
    for path in TERRAFORM.rglob("*.tf"):
        for line in path.read_text().splitlines():
            match = re.search(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+):(.+)", line)
            if match:
                assert match.group(2).strip(), f"{path}: skip without a reason"
                skips.add(match.group(1))
    readme = (TERRAFORM / "README.md").read_text()
    missing = sorted(check for check in skips if check not in readme)
    assert not missing, f"terraform/README.md does not list: {missing}"
