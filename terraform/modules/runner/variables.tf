variable "name" {
  description = "Name prefix, e.g. incident-tracker-dev; the project is <name>-deploy-runner."
  type        = string
}

variable "github_repository" {
  description = "OWNER/REPO whose workflow jobs the runners take."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the runners start in (NAT egress, route to the EKS endpoint)."
  type        = list(string)
}

variable "cluster_security_group_id" {
  description = "The EKS-managed cluster security group: admits the runners on 443."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
