variable "app_name" {
  description = "Application name; resources are named <app_name>-<environment>."
  type        = string
  default     = "incident-tracker"
}

variable "environment" {
  description = "Environment name (dev, prod)."
  type        = string
}

variable "az_suffixes" {
  description = "Zones of the provider's region to use, as suffixes (e.g. a and b): pinned, so the subnets never move when AWS adds a zone."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the environment's VPC."
  type        = string
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone."
  type        = bool
}

variable "kubernetes_version" {
  description = "Kubernetes minor version."
  type        = string
}

variable "node" {
  description = "Managed node group sizing."
  type = object({
    instance_types = list(string)
    min_size       = number
    max_size       = number
    desired_size   = number
  })
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; empty = private endpoint only."
  type        = list(string)
}

variable "admin_principal_arns" {
  description = "IAM principals with cluster-admin access entries."
  type        = list(string)
}

variable "database" {
  description = "RDS settings that differ between environments."
  type = object({
    instance_class          = string
    multi_az                = bool
    deletion_protection     = bool
    backup_retention_period = number
  })
}

variable "ecr_repository_name" {
  description = "The shared ECR repository (created by the shared root)."
  type        = string
  default     = "incident-tracker"
}

variable "github_repository" {
  description = "OWNER/REPO of this repository on GitHub: the only one whose workflows may deploy."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "Give exactly one OWNER/REPO, without wildcards."
  }
}

variable "allow_image_push" {
  description = "Whether this environment's CI roles may push images."
  type        = bool
}

variable "allow_image_tag" {
  description = "Whether this environment's CI roles may tag pushed images (release versions)."
  type        = bool
  default     = false
}

variable "jenkins" {
  description = "Jenkins agents' role settings (see the identities module); service_account defaults to jenkins-deploy-<environment>."
  type = object({
    enabled           = optional(bool, true)
    namespace         = optional(string, "jenkins")
    service_account   = optional(string)
    oidc_provider_arn = optional(string)
    oidc_issuer       = optional(string)
  })
  default = {}
}

variable "smoke_token_secret_arn" {
  description = "Secret holding the smoke test's API token, read by ci/smoke with the deploy roles (null: none yet)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
