variable "name" {
  description = "Name prefix of the secrets, e.g. incident-tracker-dev."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secrets (the database's key; the pod roles decrypt via Secrets Manager only)."
  type        = string
}

variable "db_host" {
  description = "Address of the database (written into the app role's secret for the rotation function)."
  type        = string
}

variable "db_port" {
  description = "PostgreSQL port."
  type        = number
}

variable "db_name" {
  description = "Database name."
  type        = string
}

variable "db_security_group_id" {
  description = "Security group of the database: the rotation function is admitted to it on db_port."
  type        = string
}

variable "app_db_username" {
  description = "PostgreSQL role the service logs in as; the migration Job creates and grants it."
  type        = string
  default     = "incident_tracker_app"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.app_db_username))
    error_message = "A lower-case PostgreSQL identifier of at most 63 characters."
  }
}

variable "rotation_days" {
  description = "Days between rotations of the app role's password."
  type        = number
  default     = 30

  validation {
    condition     = var.rotation_days >= 1 && var.rotation_days <= 365
    error_message = "Between 1 and 365 days (Secrets Manager's limits for automatically_after_days)."
  }
}

variable "vpc_id" {
  description = "VPC of the database (the rotation function's security group)."
  type        = string
}

variable "rotation_subnet_ids" {
  description = "Private subnets the rotation function runs in (they reach Secrets Manager through NAT)."
  type        = list(string)
}

variable "session_key_version" {
  description = "Raise to write a new session key (signs every web UI user out)."
  type        = number
  default     = 1
}

variable "smoke_token_version" {
  description = "Raise to write a new smoke token (the service replaces the old one at its next start)."
  type        = number
  default     = 1
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
