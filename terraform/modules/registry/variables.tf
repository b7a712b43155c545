variable "name" {
  description = "ECR repository name."
  type        = string
  default     = "incident-tracker"
}

variable "keep_image_count" {
  description = "How many SHA-tagged images to keep (older ones expire; prod runs a recent one)."
  type        = number
  default     = 200
}

variable "untagged_expiry_days" {
  description = "Days after which untagged images (superseded layers, failed pushes) expire."
  type        = number
  default     = 14
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
