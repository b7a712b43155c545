variable "alias" {
  description = "Alias of the key, without the `alias/` prefix (e.g. `incident-tracker-dev-eks`)."
  type        = string

  validation {
    condition     = !startswith(var.alias, "alias/") && !startswith(var.alias, "aws/")
    error_message = "alias is given without the alias/ prefix and must not be in the reserved aws/ namespace."
  }
}

variable "description" {
  description = "Description of the key: what it encrypts."
  type        = string
}

variable "logs_log_group_name" {
  description = "Log group name (or name pattern, e.g. `/aws/rds/instance/db/*`) that CloudWatch Logs of this region may encrypt with the key. null: no CloudWatch Logs statement in the key policy."
  type        = string
  default     = null
}

variable "deletion_window_in_days" {
  description = "Days a scheduled deletion waits before the key is gone (AWS allows 7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "deletion_window_in_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags of the key."
  type        = map(string)
  default     = {}
}
