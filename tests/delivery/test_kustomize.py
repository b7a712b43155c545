"""The Kustomize overlays, rendered as ci/render renders them for a deploy.

Strict schema validation for the Kubernetes version each environment's Terraform creates,
checkov on the rendered output, and the rules of the manifests themselves (replicas, PDB,
HTTPS, probes, limits, security context, network policies, the image by digest, no secret
values, dev differing from prod only where intended).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from incident_tracker.core.config import load_settings
from tests.support.deploy_steps import run_step
from tests.support.hcl import load
from tests.support.steps import assert_checkov_clean, run_ci_step

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "kustomize"
ENVIRONMENTS = ("dev", "prod")
IMAGE = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/incident-tracker@sha256:" + "0123abcd" * 8
WORKLOAD_KINDS = {"Deployment", "Job", "StatefulSet", "DaemonSet", "CronJob", "Pod"}

Doc = dict[str, Any]


def stack_setting(env: str, name: str) -> str:
    """A value env's Terraform root passes to its stack (kubernetes_version, vpc_cidr): the
    manifests are checked against what the Terraform creates, never a copy of it."""
    main = load(ROOT / "terraform" / "environments" / env / "main.tf")
    (stack,) = [call["stack"] for call in main["module"] if "stack" in call]
    return str(stack[name])


def render(env: str, outdir: Path, image: str = IMAGE) -> list[Doc]:
    result = run_step("render", env, image, str(outdir))
    assert result.returncode == 0, result.stderr
    manifests = Path(result.stdout.strip())
    assert manifests == outdir / "manifests.yaml"
    return [doc for doc in yaml.safe_load_all(manifests.read_text()) if doc]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Doc]]:
    return {env: render(env, tmp_path_factory.mktemp(env)) for env in ENVIRONMENTS}


def one(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def containers(doc: Doc) -> Iterator[Doc]:
    spec = pod_spec(doc)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_overlay_passes_strict_schema_validation(rendered: dict[str, list[Doc]], env: str) -> None:
    kinds = {doc["kind"] for doc in rendered[env]}
    assert {
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
    } <= kinds
    for doc in rendered[env]:
        # Raises on an unknown field, a wrong type, or an apiVersion this version lacks.
        kubernetes_validate.validate(doc, stack_setting(env, "kubernetes_version"), strict=True)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_schema_validation_fails_on_an_unknown_api_version(env: str) -> None:
    """The guard above really guards: the Python API raises where the CLI only warns."""
    version = stack_setting(env, "kubernetes_version")
    unknown: Doc = {"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler"}
    with pytest.raises(SchemaNotFoundError):
        kubernetes_validate.validate(unknown, version, strict=True)
    typo = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"typ": "X"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, version, strict=True)


def test_manifests_check_validates_each_overlay_for_its_clusters_version() -> None:
    """The pipeline's step reads the same Terraform setting as the test above."""
    result = run_ci_step("manifests-check")
    assert result.returncode == 0, result.stderr
    for env in ENVIRONMENTS:
        version = stack_setting(env, "kubernetes_version")
        assert f"kubernetes schemas {version}: {env} " in result.stderr, result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_workload_runs_the_digest_passed_in(
    rendered: dict[str, list[Doc]], env: str, tmp_path: Path
) -> None:
    images = [c["image"] for w in workloads(rendered[env]) for c in containers(w)]
    assert len(images) >= 2  # the web Deployment and the migration Job
    assert set(images) == {IMAGE}
    other = IMAGE.replace("0123abcd", "fedc9876")
    assert {c["image"] for w in workloads(render(env, tmp_path, other)) for c in containers(w)} == {
        other
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_container_is_locked_down_and_bounded(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    for workload in workloads(rendered[env]):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        # The migration Job has an identity of its own: only it may read the RDS master secret.
        expected = "incident-tracker-migrate" if workload["kind"] == "Job" else "incident-tracker"
        assert spec["serviceAccountName"] == expected
        for container in containers(workload):
            where = f"{workload['kind']}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in context["capabilities"], where
            assert context["runAsNonRoot"] is True, where
            assert context["seccompProfile"]["type"] == "RuntimeDefault", where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), where
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: the read-only image needs /tmp mounted"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_web_pods_have_probes_and_roll_safely(rendered: dict[str, list[Doc]], env: str) -> None:
    """Long-running containers have probes; the migration Job runs to completion instead."""
    deployment = one(rendered[env], "Deployment", "incident-tracker")
    for container in containers(deployment):
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    spec = deployment["spec"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in spec, "the HorizontalPodAutoscaler owns the replica count"
    zones = [
        c
        for c in pod_spec(deployment)["topologySpreadConstraints"]
        if c["topologyKey"] == "topology.kubernetes.io/zone"
    ]
    assert zones and zones[0]["maxSkew"] == 1
    pre_stop = int(
        pod_spec(deployment)["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1]
    )
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > pre_stop + 20

    job = one(rendered[env], "Job", "incident-tracker-migrate")
    assert "livenessProbe" not in job["spec"]["template"]["spec"]["containers"][0]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "incident-tracker",
        "db",
        "upgrade",
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_deployment_container_is_probed(rendered: dict[str, list[Doc]], env: str) -> None:
    """Liveness everywhere (a hung worker is restarted too); readiness where a Service sends
    traffic."""
    docs = rendered[env]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= {
        "incident-tracker",
        "incident-tracker-worker",
    }
    selectors = [d["spec"]["selector"].items() for d in docs if d["kind"] == "Service"]
    for deployment in deployments:
        labels = deployment["spec"]["template"]["metadata"]["labels"].items()
        behind_a_service = any(selector <= labels for selector in selectors)
        for container in pod_spec(deployment)["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            assert {"httpGet", "exec", "tcpSocket", "grpc"} & container["livenessProbe"].keys()
            if behind_a_service:
                served = {p.get("name") for p in container["ports"]} | {
                    p["containerPort"] for p in container["ports"]
                }
                assert container["readinessProbe"]["httpGet"]["port"] in served, where
    worker = one(docs, "Deployment", "incident-tracker-worker")
    worker_labels = worker["spec"]["template"]["metadata"]["labels"].items()
    assert not any(selector <= worker_labels for selector in selectors), "only scraped"
    (container,) = pod_spec(worker)["containers"]
    # The probe reads the heartbeat file the worker's loop touches.
    [heartbeat] = [
        arg.split("=", 1)[1] for arg in container["command"] if arg.startswith("--heartbeat-file=")
    ]
    assert heartbeat in " ".join(container["livenessProbe"]["exec"]["command"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_selectors_find_the_web_pods_only(rendered: dict[str, list[Doc]], env: str) -> None:
    docs = rendered[env]
    deployment = one(docs, "Deployment", "incident-tracker")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = one(docs, "Job")["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        one(docs, "Service")["spec"]["selector"],
        one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= job_labels.items()
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]


# (CIDR or "*" for anywhere, with " except A,B" when it has holes; protocol; port or "*")
Peer = tuple[str, str, int | str]


def allowed(docs: list[Doc], labels: dict[str, str], direction: str) -> set[Peer] | None:
    """What the NetworkPolicies together allow pods with these labels in one direction
    ("ingress" or "egress"); None when no policy isolates that direction (all allowed)."""
    policies = [doc["spec"] for doc in docs if doc["kind"] == "NetworkPolicy"]
    assert all(set(policy["podSelector"]) == {"matchLabels"} for policy in policies)
    isolating = [
        policy
        for policy in policies
        if policy["podSelector"]["matchLabels"].items() <= labels.items()
        and direction.capitalize() in policy["policyTypes"]
    ]
    if not isolating:
        return None
    found: set[Peer] = set()
    for policy in isolating:
        for rule in policy.get(direction, []):
            for peer in rule.get("from" if direction == "ingress" else "to") or [{}]:
                assert set(peer) <= {"ipBlock"}, peer
                block = peer.get("ipBlock", {})
                cidr = block.get("cidr", "*")
                if block.get("except"):
                    cidr += " except " + ",".join(block["except"])
                for port in rule.get("ports") or [{"port": "*"}]:
                    found.add((cidr, port.get("protocol", "TCP"), port["port"]))
    return found


# Every pod: DNS and PostgreSQL anywhere; web and migration: HTTPS to AWS APIs anywhere.
COMMON_EGRESS: set[Peer] = {("*", "UDP", 53), ("*", "TCP", 53), ("*", "TCP", 5432)}
AWS_APIS: set[Peer] = {("*", "TCP", 443)}
# The metadata service and the rest of link-local: never a webhook's target.
LINK_LOCAL = "169.254.0.0/16"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_network_policies_admit_only_the_vpc_and_only_to_served_ports(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    docs = rendered[env]

    def labels(kind: str, name: str) -> dict[str, str]:
        found: dict[str, str] = one(docs, kind, name)["spec"]["template"]["metadata"]["labels"]
        return found

    web = labels("Deployment", "incident-tracker")
    worker = labels("Deployment", "incident-tracker-worker")
    migrate = labels("Job", "incident-tracker-migrate")
    # From the VPC (where the ALB's addresses are, target-type ip), on the app port only.
    vpc = stack_setting(env, "vpc_cidr")
    assert allowed(docs, web, "ingress") == {(vpc, "TCP", 8000), (vpc, "TCP", 9100)}
    assert allowed(docs, worker, "ingress") == {(vpc, "TCP", 9100)}  # its metrics port
    assert allowed(docs, migrate, "ingress") == set()
    assert allowed(docs, web, "egress") == COMMON_EGRESS | AWS_APIS
    assert allowed(docs, migrate, "egress") == COMMON_EGRESS | AWS_APIS
    # Webhook receivers on http:// and https:// (other ports need a patch), anywhere but the
    # VPC and link-local: no HTTP(S) rule of any policy lets the worker reach inside.
    # ipBlock `except` cuts those ranges out of the rule:
    # https://kubernetes.io/docs/concepts/services-networking/network-policies/ ; AWS advises
    # keeping pods away from the instance metadata service:
    # https://docs.aws.amazon.com/eks/latest/userguide/restrict-ec2-credential-access.html
    outside = f"0.0.0.0/0 except {vpc},{LINK_LOCAL}"
    assert allowed(docs, worker, "egress") == COMMON_EGRESS | {
        (outside, "TCP", 80),
        (outside, "TCP", 443),
    }
    for policy in (d for d in docs if d["kind"] == "NetworkPolicy"):
        # ci/deploy applies everything but the web and worker components before the
        # migration: the policies must be in that step, or running pods lose their rules.
        assert "app.kubernetes.io/component" not in policy["metadata"]["labels"], policy


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_overlay_sets_its_own_identity_and_database(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    docs = rendered[env]
    # Namespaces are cluster-wide prerequisites (kustomize/cluster), not part of a deploy.
    assert {d["metadata"].get("namespace") for d in docs} == {f"incident-tracker-{env}"}
    roles = {
        d["metadata"]["name"]: d["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        for d in docs
        if d["kind"] == "ServiceAccount"
    }
    assert set(roles) == {"incident-tracker", "incident-tracker-migrate"}
    for role in roles.values():
        assert re.fullmatch(rf"arn:aws:iam::\d{{12}}:role/[\w+=,.@-]*{env}[\w+=,.@-]*", role)
    assert roles["incident-tracker"] != roles["incident-tracker-migrate"]
    data = one(docs, "ConfigMap")["data"]
    for name in ("DB_SECRET_ARN", "SECRET_KEY_ARN", "SMOKE_TOKEN_SECRET_ARN"):
        assert re.fullmatch(
            rf"arn:aws:secretsmanager:[a-z0-9-]+:\d{{12}}:secret:\S*{env}\S*", data[name]
        )
    # RDS names its managed secret rds!db-<uuid>: no environment in it.
    assert re.fullmatch(
        r"arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:rds!db-\S+", data["DB_MASTER_SECRET_ARN"]
    )
    assert data["DB_MASTER_SECRET_ARN"] != data["DB_SECRET_ARN"]
    assert data["DB_HOST"] and data["AWS_REGION"]


def test_prod_keeps_three_replicas_a_pdb_and_https_only(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["prod"]
    hpa = one(docs, "HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] >= 3
    pdb = one(docs, "PodDisruptionBudget")["spec"]
    assert pdb.get("maxUnavailable") == 1 or pdb.get("minAvailable", 0) >= 2
    assert pdb.get("maxUnavailable", 0) < hpa["minReplicas"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ingress_is_an_https_only_alb_with_ip_targets(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    ingress = one(rendered[env], "Ingress", "incident-tracker")
    notes = ingress["metadata"]["annotations"]
    listeners = json.loads(notes["alb.ingress.kubernetes.io/listen-ports"])
    assert {"HTTPS": 443} in listeners
    # Plain HTTP exists only to redirect to HTTPS.
    assert all(set(port) == {"HTTP"} or set(port) == {"HTTPS"} for port in listeners)
    assert notes["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert notes["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert notes["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert notes["alb.ingress.kubernetes.io/healthcheck-path"] == "/readyz"
    assert notes["alb.ingress.kubernetes.io/ssl-policy"].startswith("ELBSecurityPolicy-TLS13")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert "kubernetes.io/ingress.class" not in notes
    host = ingress["spec"]["rules"][0]["host"]
    assert host and host != "incident-tracker.example.com", "the overlay sets the hostname"


# People sign in at the load balancer (kustomize/components/people-sign-in). EKS Auto Mode
# configures ALBs from Ingress annotations and IngressClassParams, never from annotations on
# an IngressClass: https://docs.aws.amazon.com/eks/latest/userguide/auto-configure-alb.html
# Its controller resolves auth-idp-oidc's Secret only if RBAC lets the eks:managed group read
# it: https://docs.aws.amazon.com/eks/latest/userguide/auto-managed-rbac-example.html
# The IdP's endpoints must be reachable over HTTPS with a public certificate:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_people_sign_in_is_set_on_the_ingresses_the_auto_mode_controller_reads(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    docs = rendered[env]
    for ingress_class in (d for d in docs if d["kind"] == "IngressClass"):
        notes = ingress_class["metadata"].get("annotations", {})
        assert not [k for k in notes if k.startswith("alb.ingress.kubernetes.io/")]
    ui, api = one(docs, "Ingress", "incident-tracker"), one(docs, "Ingress", "incident-tracker-api")
    secrets = set()
    for ingress in (ui, api):
        notes = ingress["metadata"]["annotations"]
        assert notes["alb.ingress.kubernetes.io/auth-type"] == "oidc"
        idp = json.loads(notes["alb.ingress.kubernetes.io/auth-idp-oidc"])
        endpoints = ("issuer", "authorizationEndpoint", "tokenEndpoint", "userInfoEndpoint")
        assert all(idp[name].startswith("https://") for name in endpoints)
        assert "clientSecret" not in idp, "the client secret stays in a Secret"
        secrets.add(idp["secretName"])
    (secret,) = secrets
    role = one(docs, "Role", "incident-tracker-oidc-secret-reader")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["get"]}
    ]
    binding = one(docs, "RoleBinding", "incident-tracker-oidc-secret-reader")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "eks:managed"}
    ]
    assert role["metadata"]["namespace"] == ui["metadata"]["namespace"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_ui_paths_authenticate_and_api_paths_let_machines_through(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    """Browsers are sent to the IdP; a bearer-token client on /api is let through (allow)."""
    ui, api = (
        one(rendered[env], "Ingress", name) for name in ("incident-tracker", "incident-tracker-api")
    )
    ui_notes, api_notes = ui["metadata"]["annotations"], api["metadata"]["annotations"]
    group = "alb.ingress.kubernetes.io/group.name"
    assert ui_notes[group] == api_notes[group], "one load balancer for both"
    order = "alb.ingress.kubernetes.io/group.order"
    assert int(api_notes[order]) < int(ui_notes[order]), "/api/ is matched before /"
    unauthenticated = "alb.ingress.kubernetes.io/auth-on-unauthenticated-request"
    assert ui_notes[unauthenticated] == "authenticate"
    assert api_notes[unauthenticated] == "allow"
    assert [p["path"] for p in api["spec"]["rules"][0]["http"]["paths"]] == ["/api/"]
    assert [p["path"] for p in ui["spec"]["rules"][0]["http"]["paths"]] == ["/"]
    assert json.loads(api_notes["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTPS": 443}]
    assert api["spec"]["rules"][0]["host"] == ui["spec"]["rules"][0]["host"]
    assert api_notes["alb.ingress.kubernetes.io/target-type"] == "ip"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_metrics_are_scraped_on_their_own_port_and_never_routed_by_the_ingress(
    rendered: dict[str, list[Doc]], env: str
) -> None:
    docs = rendered[env]
    metrics_port = load_settings({}).metrics_port  # METRICS_PORT's default
    for name in ("incident-tracker", "incident-tracker-worker"):
        template = one(docs, "Deployment", name)["spec"]["template"]
        notes = template["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true"
        assert notes["prometheus.io/port"] == str(metrics_port)
        assert notes["prometheus.io/path"] == "/metrics"
        ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert ports["metrics"] == metrics_port, name
    web = one(docs, "Deployment", "incident-tracker")["spec"]["template"]["spec"]
    env_vars = {e["name"]: e.get("value") for e in web["containers"][0].get("env", [])}
    assert env_vars.get("METRICS_PORT", str(metrics_port)) == str(metrics_port)
    container_ports = {p["name"]: p["containerPort"] for p in web["containers"][0]["ports"]}
    service = one(docs, "Service", "incident-tracker")["spec"]["ports"]
    service_targets = {p["name"]: p["targetPort"] for p in service}
    assert service_targets == {"http": "http", "metrics": "metrics"}
    # Every Ingress backend names the Service port that targets the app's port, never metrics.
    # An Ingress backend picks one Service port by name or number:
    # https://kubernetes.io/docs/concepts/services-networking/ingress/
    ingresses = [d for d in docs if d["kind"] == "Ingress"]
    backends = [
        path["backend"]["service"]
        for ingress in ingresses
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert backends and all(b["name"] == "incident-tracker" for b in backends)
    by_name = {p["name"]: p for p in service}
    by_number = {p["port"]: p for p in service}
    for backend in backends:
        port = backend["port"]
        chosen = by_name[port["name"]] if "name" in port else by_number[port["number"]]
        assert container_ports[chosen["targetPort"]] == 8000, backend


def test_the_ingress_class_is_named_in_one_place() -> None:
    mentions = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted(KUSTOMIZE.rglob("*.yaml"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.match(
            r"\s*(ingressClassName:|kubernetes\.io/ingress\.class:|kind:\s*IngressClass\b)", line
        )
    ]
    # The Ingress names it; kustomize/cluster defines it for EKS Auto Mode.
    assert [m.split(":")[0] for m in mentions] == [
        "kustomize/base/ingress.yaml",
        "kustomize/cluster/ingressclass.yaml",
    ], mentions


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        items: dict[str, Any] = {}
        for key, item in value.items():
            items |= flatten(item, f"{prefix}/{key}")
        return items
    if isinstance(value, list):
        items = {}
        for index, item in enumerate(value):
            items |= flatten(item, f"{prefix}/{index}")
        return items
    return {prefix: value}


# Everything dev may set differently from prod; any other difference is a mistake.
INTENDED_DIFFERENCES = [
    r"\w+/metadata/namespace",
    r"\w+/metadata/labels/(app\.kubernetes\.io/instance|environment)",
    r"(Deployment|Job)/spec/template/metadata/labels/(app\.kubernetes\.io/instance|environment)",
    r"ConfigMap/metadata/name",  # the hash of its data
    r"(Deployment|Job)/spec/template/spec/containers/0/envFrom/0/configMapRef/name",
    r"ConfigMap/data/(LOG_LEVEL|DB_HOST|(DB|DB_MASTER|SMOKE_TOKEN)_SECRET_ARN|SECRET_KEY_ARN"
    r"|AWS_REGION|WEB_CONCURRENCY|OIDC_LOGOUT_URL|OIDC_ALB_ARN)",  # values from Terraform, AWS
    r"Job/spec/template/spec/containers/0/env/\d+/valueFrom/configMapKeyRef/name",
    r"ServiceAccount/metadata/annotations/eks\.amazonaws\.com/role-arn",
    r"Ingress/spec/rules/0/host",
    r"NetworkPolicy/spec/ingress/0/from/0/ipBlock/cidr",  # the VPC's CIDR
    r"NetworkPolicy/spec/egress/0/to/0/ipBlock/except/0",  # the VPC's CIDR, kept out
    r"Ingress/metadata/annotations/alb\.ingress\.kubernetes\.io/certificate-arn",
    r"Ingress/metadata/annotations/alb\.ingress\.kubernetes\.io/auth-idp-oidc",  # each env's IdP
    r"Ingress/metadata/annotations/alb\.ingress\.kubernetes\.io/load-balancer-name",
    r"HorizontalPodAutoscaler/spec/(min|max)Replicas",
    r"Deployment/spec/template/spec/containers/0/resources/(requests|limits)/(cpu|memory)",
]


def test_dev_differs_from_prod_only_where_intended(rendered: dict[str, list[Doc]]) -> None:
    def index(docs: list[Doc]) -> dict[str, Any]:
        flat: dict[str, Any] = {}
        for doc in docs:
            kind = doc["kind"]
            flat |= {f"{kind}{path}": value for path, value in flatten(doc).items()}
        return flat

    dev, prod = index(rendered["dev"]), index(rendered["prod"])
    differing = sorted(path for path in dev.keys() | prod.keys() if dev.get(path) != prod.get(path))
    unintended = [
        path
        for path in differing
        if not any(re.fullmatch(pattern, path) for pattern in INTENDED_DIFFERENCES)
    ]
    assert not unintended, unintended
    assert any("minReplicas" in path for path in differing)


SECRET_PATTERNS = [
    r"AKIA[0-9A-Z]{16}",  # AWS access key id
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    # a key that holds a credential (DB_SECRET_ARN, SECRET_KEY_ARN, ARNs, are not one)
    # (a key with a value on its line; `secret:` opening a Secret volume source is no value)
    r"(?im)^\s*-?\s*(\w+_)?(password|passwd|secret|secret_access_key|api_?key|token)\s*:[ \t]*\S",
    r"postgres(ql)?(\+\w+)?://[^/\s:@]+:[^@\s]+@",  # a URL with credentials
]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_value_in_any_manifest(rendered: dict[str, list[Doc]], env: str) -> None:
    docs = rendered[env]
    assert not [d for d in docs if d["kind"] == "Secret"]
    text = yaml.safe_dump_all(docs)
    for pattern in SECRET_PATTERNS:
        assert not re.search(pattern, text), pattern
    for workload in workloads(docs):
        for container in containers(workload):
            for variable in container.get("env", []):
                from_config = "configMapKeyRef" in variable.get("valueFrom", {})
                if variable["name"].endswith("_ARN") and from_config:
                    continue  # the ARN of a secret, from the ConfigMap: not a secret
                assert not re.search(r"(?i)pass|secret|token|key", variable["name"]), variable
    # The database password stays in Secrets Manager: the pods get only the secret's ARN.
    data = one(docs, "ConfigMap")["data"]
    assert {"DATABASE_URL", "DB_PASSWORD"}.isdisjoint(data)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_secret_is_made_by_hand(rendered: dict[str, list[Doc]], env: str) -> None:
    """The session key comes from Secrets Manager (SECRET_KEY_ARN), like every secret."""
    for workload in workloads(rendered[env]):
        volumes = pod_spec(workload).get("volumes", [])
        assert not [v for v in volumes if "secret" in v], workload["metadata"]["name"]
    data = one(rendered[env], "ConfigMap")["data"]
    assert "SECRET_KEY_FILE" not in data and "SECRET_KEY_ARN" in data
    for readme in ("README.md", "kustomize/README.md", "terraform/README.md"):
        assert "kubectl create secret" not in (ROOT / readme).read_text(), readme


def test_kustomizations_use_current_fields_only() -> None:
    deprecated = {"commonLabels", "bases", "patchesStrategicMerge", "patchesJson6902", "vars"}
    files = sorted(KUSTOMIZE.rglob("kustomization.yaml"))
    # base, dev, prod, the cluster-wide prerequisites, the people-sign-in and terraform-values
    # components
    assert len(files) == 6
    for path in files:
        kustomization = yaml.safe_load(path.read_text())
        assert not deprecated & kustomization.keys(), path
        # The image is set at deploy time (ci/render), never committed.
        assert "images" not in kustomization, path


def test_render_leaves_tracked_files_untouched(rendered: dict[str, list[Doc]]) -> None:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "kustomize"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == ""


def test_checkov_kubernetes_on_the_rendered_overlays() -> None:
    """ci/scan renders each overlay and runs checkov; skips must carry a reason."""
    assert_checkov_clean("kubernetes")
    for path in sorted(KUSTOMIZE.rglob("*.yaml")):
        for skip in re.findall(r"checkov\.io/skip\d+:\s*(\S.*)", path.read_text()):
            assert re.fullmatch(r"[\"']?CKV2?_K8S_\d+=\S.{5,}", skip), (path, skip)
