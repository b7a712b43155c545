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

variable "kubernetes_support_type" {
  description = "EKS upgrade policy at the end of standard support: STANDARD (EKS upgrades) or EXTENDED (stays, billed)."
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

variable "hostname" {
  description = "Public name of the service (the overlay's Ingress host); inside hosted_zone_id."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 public hosted zone of hostname: ACM validation and external-dns's record."
  type        = string
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
    final_snapshot          = bool
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
    drift_namespace   = optional(string, "jenkins-release")
    service_account   = optional(string)
    oidc_provider_arn = optional(string)
    oidc_issuer       = optional(string)
  })
  default = {}
}

variable "people_sign_in" {
  description = <<-EOT
    How people sign in at the load balancer (README "Sign-in for people"), passed to
    modules/people-sign-in, whose variables hold the types: identity_provider, the company's
    OIDC issuer, endpoints, logout_url and groups_claim (one row of the README's table), or
    absent for a Cognito user pool made there; group_scopes, OIDC_GROUP_SCOPES (absent: its
    default). Written to the deploy values; ci/render puts them in the overlay.
  EOT
  type        = any
  default     = {}
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
