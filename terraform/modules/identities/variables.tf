variable "name" {
  description = "Name prefix of the roles, e.g. incident-tracker-dev."
  type        = string
}

variable "cluster_name" {
  description = "EKS cluster the CI roles deploy to (access entries, eks:DescribeCluster)."
  type        = string
}

variable "cluster_arn" {
  description = "ARN of that cluster."
  type        = string
}

variable "oidc_provider_arn" {
  description = "IAM OIDC provider of the cluster (IRSA) for the app's pod role."
  type        = string
}

variable "oidc_issuer" {
  description = "The cluster's OIDC issuer without https:// (IRSA condition key prefix)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the app, e.g. incident-tracker-dev."
  type        = string
}

variable "service_account" {
  description = "Kubernetes service account of the app (web and worker)."
  type        = string
  default     = "incident-tracker"
}

variable "migrate_service_account" {
  description = "Kubernetes service account of the migration Job."
  type        = string
  default     = "incident-tracker-migrate"
}

variable "app_secret_arns" {
  description = "The secrets the app's pods read: db (its own database role), session_key, smoke_token."
  type        = object({ db = string, session_key = string, smoke_token = string })
}

variable "master_db_secret_arn" {
  description = "The RDS-managed master-user secret: only the migration Job may read it."
  type        = string
}

variable "secrets_kms_key_arn" {
  description = "KMS key encrypting those secrets."
  type        = string
}

variable "ecr_repository_arn" {
  description = "The ECR repository the CI roles push to and read from."
  type        = string
}

variable "allow_image_push" {
  description = "Whether the CI roles may push images (dev builds them; prod only promotes digests)."
  type        = bool
  default     = true
}

variable "allow_image_tag" {
  description = "Whether the CI roles may add a tag to an image already pushed (prod tags its releases)."
  type        = bool
  default     = false
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's token.actions.githubusercontent.com OIDC provider."
  type        = string
}

variable "github_subjects" {
  description = <<-EOT
    Exact `sub` claims the GitHub deploy role trusts, e.g.
    repo:OWNER/REPO:ref:refs/heads/main (dev) or repo:OWNER/REPO:environment:prod (prod).
  EOT
  type        = list(string)

  validation {
    condition = length(var.github_subjects) > 0 && alltrue([
      for s in var.github_subjects :
      can(regex("^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:(ref:refs/heads/[A-Za-z0-9_./-]+|environment:[A-Za-z0-9_.-]+)$", s))
    ])
    error_message = "Each subject must pin one repository and one branch or environment, without wildcards."
  }
}

variable "plan_github_subject" {
  description = "The `sub` claim the read-only plan role (drift check) trusts: repo:OWNER/REPO:environment:terraform-drift."
  type        = string

  validation {
    condition     = can(regex("^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:environment:[A-Za-z0-9_.-]+$", var.plan_github_subject))
    error_message = "The subject must pin one repository and one environment."
  }
}

variable "jenkins" {
  description = <<-EOT
    The Jenkins deploy agents' role (IRSA), trusted by exactly one service account, the one
    the Jenkinsfile gives this environment's deploy stages (e.g. jenkins-deploy-dev); never the
    PR builds' one. oidc_provider_arn/oidc_issuer default to this cluster's (Jenkins running
    inside it); set them to the cluster Jenkins runs in otherwise. drift_namespace: where the
    drift check's jenkins-drift service account runs (the release folder's namespace, which no
    pull request can reach; ci/jenkins/jenkins.yaml).
  EOT
  type = object({
    enabled           = optional(bool, true)
    namespace         = optional(string, "jenkins")
    drift_namespace   = optional(string, "jenkins-release")
    service_account   = optional(string)
    oidc_provider_arn = optional(string)
    oidc_issuer       = optional(string)
  })
  default = {}

  validation {
    condition     = !var.jenkins.enabled || var.jenkins.service_account != null
    error_message = "Name the Jenkins deploy agents' service account (jenkins.service_account)."
  }
}

variable "smoke_token_secret_arn" {
  description = <<-EOT
    Secrets Manager secret holding the smoke test's API token (the service creates the token
    from it at start-up): the CI roles may read exactly this secret, so ci/smoke needs no
    token copied into GitHub or Jenkins. null: no such grant.
  EOT
  type        = string
  default     = null
}

variable "deploy_parameters_path" {
  description = <<-EOT
    SSM parameter path (e.g. /incident-tracker/dev/deploy) under which Terraform writes the
    overlay's values: the CI roles may call ssm:GetParametersByPath on exactly this path
    (ci/render). null: no such grant.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.deploy_parameters_path == null || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.deploy_parameters_path))
    error_message = "deploy_parameters_path looks like /incident-tracker/dev/deploy (no trailing slash)."
  }
}

variable "oidc_client_secret_arn" {
  description = "Secrets Manager secret of the load balancer's OIDC client: the CI roles may read exactly this secret (ci/deploy makes the Kubernetes Secret from it). null: no such grant."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
