variable "region" {
  description = "AWS region of the registry (the environments' region)."
  type        = string
  default     = "eu-west-1"
}

variable "ecr_repository_name" {
  description = "Name of the one image repository every environment pulls from."
  type        = string
  default     = "incident-tracker"
}
