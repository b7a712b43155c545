# Identical in dev and prod (tests/delivery/test_terraform.py compares them): a root declares
# its own inputs, and these only pass the operator's values to modules/stack, where their
# types and validation live. What differs between the environments is in main.tf.

variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "eu-west-1"
}

variable "az_suffixes" {
  description = "Zones of the region to use (e.g. [\"a\", \"b\"]) where the region lacks the ones main.tf picks; null: main.tf's."
  type        = list(string)
  default     = null
}

variable "github_repository" {
  description = "OWNER/REPO of this repository on GitHub: the only one whose workflows may deploy."
  type        = string
}

variable "hosted_zone_id" {
  description = "Route 53 public hosted zone (Z...) holding the environment's hostname (main.tf): certificate validation and the load balancer's record."
  type        = string
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
  description = "Overrides of the Jenkins agents' role (enabled, namespace, drift_namespace, service_account, oidc_provider_arn, oidc_issuer): the object type of modules/stack's jenkins variable."
  type        = any
  default     = {}
}

variable "people_sign_in" {
  description = "How people sign in at the load balancer (identity_provider, or none for a Cognito user pool; group_scopes): the object type of modules/stack's people_sign_in. README \"Sign-in for people\"."
  type        = any
  default     = {}
}
