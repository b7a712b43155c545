variable "name" {
  description = "Identifier of the DB instance and prefix of its resources, e.g. incident-tracker-dev."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for the DB subnet group (at least two zones)."
  type        = list(string)
}

variable "client_security_group_id" {
  description = "The only security group admitted on the PostgreSQL port: the EKS nodes' one."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version (minor upgrades are automatic)."
  type        = string
  default     = "16"
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB."
  type        = number
  default     = 100
}

variable "db_name" {
  description = "Database created in the instance (DB_NAME for the app)."
  type        = string
  default     = "incident_tracker"
}

variable "master_username" {
  description = "Master user; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "incident_tracker"
}

variable "multi_az" {
  description = "Standby in a second zone (prod)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse deletion of the instance (prod)."
  type        = bool
  default     = true
}

variable "final_snapshot" {
  description = "Take a final snapshot (<name>-final) when the instance is deleted (prod)."
  type        = bool
  default     = true
}

variable "backup_retention_period" {
  description = "Days of automated backups: the point-in-time restore window (ci/restore-db)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_period >= 1 && var.backup_retention_period <= 35
    error_message = "Backups cannot be turned off; RDS keeps at most 35 days."
  }
}

variable "performance_insights_retention_period" {
  description = "Days of Performance Insights history (7 is free)."
  type        = number
  default     = 7
}

variable "log_retention_days" {
  description = "Days to keep the exported PostgreSQL logs."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
