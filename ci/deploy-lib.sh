# Helpers shared by ci/render, ci/deploy, ci/rollback, ci/promote and ci/smoke; source it, do not run it.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the constants are used by the scripts that source this file
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The one container image every workload of the app runs; kustomize/base names it so and the
# images transformer replaces it with the digest given at deploy time.
APP_IMAGE_NAME="incident-tracker"
APP_DEPLOYMENT="incident-tracker"
MIGRATION_JOB="incident-tracker-migrate"
# auth-idp-oidc's secretName (kustomize/components/people-sign-in): ci/deploy makes it.
OIDC_SECRET_NAME="incident-tracker-oidc"
# kubectl for the cluster (init_kube picks one within a minor version of the cluster's); tests
# point it at a recording fake. Rendering always uses ci/tool.
KUBECTL="${KUBECTL:-}"
DRY_RUN="${DRY_RUN:-0}"
ROLLOUT_TIMEOUT="${ROLLOUT_TIMEOUT:-300s}"

# IMAGE@sha256:<64 hex>, without a tag: the only form ever deployed.
DIGEST_REF_RE='^([a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*@sha256:[0-9a-f]{64}$'

check_image_ref() {
  local ref="$1"
  [[ "$ref" =~ $DIGEST_REF_RE ]] \
    || die "expected IMAGE@sha256:<64 hex digits> (deploy by digest, no tag), got: ${ref}"
}

# The repository part and the digest part of IMAGE@sha256:...
image_repo() { printf '%s\n' "${1%@*}"; }
image_digest() { printf '%s\n' "${1#*@}"; }

check_env() {
  local env_name="$1"
  [[ "$env_name" =~ ^[a-z][a-z0-9-]*$ && -f "$REPO_ROOT/kustomize/overlays/$env_name/kustomization.yaml" ]] \
    || die "unknown environment '${env_name}' (have: $(overlay_names))"
}

overlay_names() {
  local dir names=()
  for dir in "$REPO_ROOT"/kustomize/overlays/*/; do names+=("$(basename "$dir")"); done
  printf '%s\n' "${names[*]}"
}

# The namespace an overlay deploys to (its kustomization's `namespace:`).
overlay_namespace() {
  local namespace
  namespace="$(sed -n 's/^namespace:[[:space:]]*\([a-z0-9-]*\).*/\1/p' \
    "$REPO_ROOT/kustomize/overlays/$1/kustomization.yaml")"
  [[ -n "$namespace" ]] || die "kustomize/overlays/$1 sets no namespace"
  printf '%s\n' "$namespace"
}

# Print a command exactly (shell-quoted, one line), then run it unless this is a dry run.
run() {
  printf '+'; printf ' %q' "$@"; printf '\n'
  [[ "$DRY_RUN" == 1 ]] && return 0
  "$@"
}

# The Kubernetes minor version of ENV's cluster, from its one place in Terraform: the
# kubernetes_version the environment root (or modules/stack) gives the cluster.
cluster_version() {
  local version
  version="$(grep -hoE 'kubernetes_version[[:space:]]*=[[:space:]]*"1\.[0-9]+"' \
    "$REPO_ROOT/terraform/environments/$1/"*.tf "$REPO_ROOT/terraform/modules/stack/"*.tf 2>/dev/null \
    | grep -oE '1\.[0-9]+' | sort -u)"
  [[ "$version" =~ ^1\.[0-9]+$ ]] || die "no single kubernetes_version for $1 in terraform/ (found: ${version:-none})"
  printf '%s\n' "$version"
}

# The kubectl command line for ENV's cluster, in the array `kube`: KUBECTL, with
# --context KUBE_CONTEXT when set. With EKS_CLUSTER_NAME set (the pipelines), first writes the
# kubeconfig entry for that cluster from the AWS credentials in the environment (OIDC, IRSA):
# a fresh runner or agent pod has none. Without it, the current kubeconfig is used as it is.
init_kube() {
  local env_name="$1"
  if [[ -n "${EKS_CLUSTER_NAME:-}" ]]; then
    need_apt aws awscli || true
    local login=(aws eks update-kubeconfig --name "$EKS_CLUSTER_NAME")
    [[ -n "${AWS_REGION:-}" ]] && login+=(--region "$AWS_REGION")
    [[ -n "${KUBE_CONTEXT:-}" ]] && login+=(--alias "$KUBE_CONTEXT")
    run "${login[@]}"
  fi
  # kubectl supports one minor version either side of the API server: pin it from the cluster.
  [[ -n "$KUBECTL" ]] || KUBECTL="$("$REPO_ROOT/ci/tool" --path "kubectl@$(cluster_version "$env_name")")"
  kube=("$KUBECTL")
  [[ -n "${KUBE_CONTEXT:-}" ]] && kube+=(--context "$KUBE_CONTEXT")
  return 0
}

# "NAMESPACE NAME" of every Deployment in the Kubernetes YAML on stdin.
deployments_in() {
  "$VENV/bin/python" -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "Deployment":
        print(d["metadata"].get("namespace", "default"), d["metadata"]["name"])
'
}

# The file where ci/deploy records each Deployment's revision before it applies anything, and
# ci/rollback reads it back: "NAMESPACE NAME REVISION" lines (REVISION empty: none existed).
revisions_file() { printf '%s\n' "${DEPLOY_RENDER_DIR:-$REPO_ROOT/reports/deploy/$1}/revisions"; }

# Write "NAMESPACE NAME REVISION" to FILE for each Deployment ("NAMESPACE NAME" arguments after
# FILE): its current revision (deployment.kubernetes.io/revision), empty when it does not exist
# yet. Needs init_kube.
record_revisions() {
  local file="$1" entry namespace name revision
  shift
  : >"$file"
  for entry in "$@"; do
    read -r namespace name <<<"$entry"
    local get=("${kube[@]}" --namespace "$namespace" get "deployment/$name" --ignore-not-found
      -o 'jsonpath={.metadata.annotations.deployment\.kubernetes\.io/revision}')
    printf '+'; printf ' %q' "${get[@]}"; printf '\n'
    revision=""
    [[ "$DRY_RUN" == 1 ]] || revision="$("${get[@]}")" || die "could not read deployment/${name}"
    printf '%s %s %s\n' "$namespace" "$name" "$revision" >>"$file"
  done
}

# Return each Deployment ("NAMESPACE NAME REVISION" arguments, as recorded before the deploy)
# to exactly that revision, then wait until each is ready again; dies saying which one failed.
# `rollout undo` without --to-revision goes back one revision from the current one, which is
# one release too far when the deploy made no new revision (same pod template). Needs init_kube.
undo_rollouts() {
  local entry namespace name revision
  for entry in "$@"; do
    read -r namespace name revision <<<"$entry"
    [[ -n "$revision" ]] \
      || die "deployment/${name} had no revision before this deploy (first deploy): nothing to return to; inspect the namespace ${namespace}"
    run "${kube[@]}" --namespace "$namespace" rollout undo "deployment/$name" --to-revision="$revision" \
      || die "the undo of deployment/${name} failed too; inspect the namespace ${namespace}"
  done
  for entry in "$@"; do
    read -r namespace name revision <<<"$entry"
    run "${kube[@]}" --namespace "$namespace" rollout status "deployment/$name" --timeout="$ROLLOUT_TIMEOUT" \
      || die "deployment/${name} did not become ready after the undo either"
  done
}
