variable "name" {
  description = "EKS cluster name, e.g. incident-tracker-dev."
  type        = string
}

variable "kubernetes_version" {
  # No default: each environment root sets it, and ci/manifests-check validates that
  # environment's manifests against the same version.
  description = "Kubernetes minor version of the control plane and the managed nodes."
  type        = string
}

variable "support_type" {
  description = <<-EOT
    EKS upgrade policy: STANDARD (at the end of standard support EKS upgrades the control
    plane to the next version) or EXTENDED (the version stays, at the extended-support price).
  EOT
  type        = string

  validation {
    condition     = contains(["STANDARD", "EXTENDED"], var.support_type)
    error_message = "support_type is STANDARD or EXTENDED."
  }
}

variable "vpc_id" {
  description = "VPC the cluster and its nodes live in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the control-plane ENIs and the managed nodes (at least two zones)."
  type        = list(string)
}

variable "endpoint_public_access_cidrs" {
  description = <<-EOT
    CIDRs allowed to reach the public Kubernetes API endpoint. Empty (the default) means a
    private-only endpoint: then only something inside the VPC (Jenkins agents in the cluster,
    self-hosted runners) can deploy. Non-empty turns the public endpoint on for exactly these
    ranges; IAM authentication through access entries still applies on top.
  EOT
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "The API endpoint must never be open to 0.0.0.0/0; list the deployers' ranges."
  }
}

variable "admin_principal_arns" {
  description = "IAM principals (e.g. the platform team's SSO role) given cluster-admin access entries."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_min_size" {
  description = "Minimum number of managed nodes."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Maximum number of managed nodes."
  type        = number
  default     = 4
}

variable "node_desired_size" {
  description = "Initial number of managed nodes (later changes by autoscaling are ignored)."
  type        = number
  default     = 2
}

variable "node_disk_size" {
  description = "Root volume size of each node in GiB."
  type        = number
  default     = 50
}

variable "log_retention_days" {
  description = "Days to keep the control-plane logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
