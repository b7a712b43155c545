variable "name" {
  description = "ECR repository name."
  type        = string
  default     = "incident-tracker"
}

variable "keep_image_count" {
  description = "How many other tagged (git SHA) images to keep; older ones expire. Release images are never counted here."
  type        = number
  default     = 200
}

variable "release_tag_pattern" {
  description = "Tag pattern of release images (ci/tag-release adds vMAJOR.MINOR.PATCH): kept by the highest-priority rule."
  type        = string
  default     = "v*"
}

variable "keep_release_count" {
  description = "Release images kept; the default is high enough that none ever expires."
  type        = number
  default     = 9999

  validation {
    condition     = var.keep_release_count >= 1000
    error_message = "Release images are what prod runs and rolls back to: keep at least 1000."
  }
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
