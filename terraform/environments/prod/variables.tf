# Same as ../dev/variables.tf on purpose: a root must declare its own input variables (terraform/README.md,
# Layout). Change both copies together.

variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "eu-west-1"
}

variable "az_suffixes" {
  description = "Zones of the region to use, pinned so the subnets never move when AWS adds a zone."
  type        = list(string)
  default     = ["a", "b", "c"]
}

variable "github_repository" {
  description = "OWNER/REPO of this repository on GitHub: the only one whose workflows may deploy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "Give exactly one OWNER/REPO, without wildcards."
  }
}

variable "endpoint_public_access_cidrs" {
  description = <<-EOT
    Ranges allowed to reach the public Kubernetes API endpoint: the deployers' egress IPs
    (GitHub larger runners with static IPs, the VPN). Empty = private endpoint only, and then
    only Jenkins agents inside the cluster (or self-hosted runners in the VPC) can deploy.
  EOT
  type        = list(string)
}

variable "admin_principal_arns" {
  description = "IAM principals (e.g. the platform team's SSO role) with cluster-admin access entries."
  type        = list(string)
  default     = []
}

variable "jenkins" {
  description = "Jenkins agents' role: defaults to Jenkins running in this cluster, namespace jenkins, service account jenkins-deploy-<environment>."
  type = object({
    enabled           = optional(bool, true)
    namespace         = optional(string, "jenkins")
    service_account   = optional(string)
    oidc_provider_arn = optional(string)
    oidc_issuer       = optional(string)
  })
  default = {}
}
