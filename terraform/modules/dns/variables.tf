variable "name" {
  description = "Prefix of the IAM role, e.g. incident-tracker-dev."
  type        = string
}

variable "hostname" {
  description = "The service's public name (the Ingress host), inside the hosted zone."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.hostname))
    error_message = "hostname is one lower-case DNS name without wildcards."
  }
}

variable "hosted_zone_id" {
  description = "Route 53 public hosted zone holding hostname: certificate validation and the load balancer's record."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]+$", var.hosted_zone_id))
    error_message = "hosted_zone_id is a Route 53 zone id (Z...)."
  }
}

variable "cluster_name" {
  description = "EKS cluster whose external-dns may write the record."
  type        = string
}

variable "external_dns" {
  description = "Where external-dns runs (kustomize/cluster/external-dns.yaml)."
  type = object({
    namespace       = optional(string, "external-dns")
    service_account = optional(string, "external-dns")
  })
  default = {}
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
