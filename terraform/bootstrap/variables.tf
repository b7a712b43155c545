variable "region" {
  description = "AWS region of the state bucket."
  type        = string
  default     = "eu-west-1"
}

variable "state_bucket_name" {
  description = "Globally unique name of the Terraform state bucket, e.g. <account-id>-incident-tracker-tfstate."
  type        = string
}

variable "noncurrent_version_days" {
  description = "Days to keep superseded state versions (recovery from a bad apply)."
  type        = number
  default     = 90
}
