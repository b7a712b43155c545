# Helpers shared by ci/render, ci/deploy, ci/rollback, ci/promote and ci/smoke; source it, do not run it.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the constants are used by the scripts that source this file
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The one container image every workload of the app runs; kustomize/base names it so and the
# images transformer replaces it with the digest given at deploy time.
APP_IMAGE_NAME="incident-tracker"
APP_DEPLOYMENT="incident-tracker"
MIGRATION_JOB="incident-tracker-migrate"
# kubectl for the cluster (init_kube installs the pinned one when none is on PATH); tests point
# it at a recording fake. Rendering always uses ci/tool.
KUBECTL="${KUBECTL:-kubectl}"
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

# The kubectl command line for the cluster, in the array `kube`: KUBECTL, with
# --context KUBE_CONTEXT when set. With EKS_CLUSTER_NAME set (the pipelines), first writes the
# kubeconfig entry for that cluster from the AWS credentials in the environment (OIDC, IRSA):
# a fresh runner or agent pod has none. Without it, the current kubeconfig is used as it is.
init_kube() {
  if [[ -n "${EKS_CLUSTER_NAME:-}" ]]; then
    need_apt aws awscli || true
    local login=(aws eks update-kubeconfig --name "$EKS_CLUSTER_NAME")
    [[ -n "${AWS_REGION:-}" ]] && login+=(--region "$AWS_REGION")
    [[ -n "${KUBE_CONTEXT:-}" ]] && login+=(--alias "$KUBE_CONTEXT")
    run "${login[@]}"
  fi
  command -v "$KUBECTL" >/dev/null 2>&1 || KUBECTL="$("$REPO_ROOT/ci/tool" --path kubectl)"
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

# Undo the last rollout of each Deployment ("NAMESPACE NAME" arguments), then wait until each
# is ready again; dies saying which one failed. Needs init_kube.
undo_rollouts() {
  local entry namespace name
  for entry in "$@"; do
    read -r namespace name <<<"$entry"
    run "${kube[@]}" --namespace "$namespace" rollout undo "deployment/$name" \
      || die "the undo of deployment/${name} failed too (first deploy?); inspect the namespace ${namespace}"
  done
  for entry in "$@"; do
    read -r namespace name <<<"$entry"
    run "${kube[@]}" --namespace "$namespace" rollout status "deployment/$name" --timeout="$ROLLOUT_TIMEOUT" \
      || die "deployment/${name} did not become ready after the undo either"
  done
}
