# terraform test (offline, mocked provider): the lifecycle policy keeps release images; the
# repository's tags are immutable, its images scanned and encrypted.
# ECR rule order and precedence:
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html
# Immutable tags (a pushed tag can never name another digest, so a release tag names one image):
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html
# Basic scanning on push (ci/check-release reads its findings):
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html
# Encryption with a KMS key: https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html

mock_provider "aws" {}

run "release_images_are_kept_by_the_highest_priority_rule" {
  command = plan

  assert {
    condition = one([
      for rule in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules : rule
      if rule.selection.tagStatus == "tagged" && try(rule.selection.tagPatternList, []) == ["v*"]
    ]).rulePriority == min([for rule in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules : rule.rulePriority]...)
    error_message = "The v* rule must have the lowest rulePriority (evaluated first), or a later rule expires releases."
  }

  assert {
    condition = alltrue([
      for rule in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules :
      rule.selection.countNumber >= 1000
      if try(rule.selection.tagPatternList, []) == ["v*"]
    ])
    error_message = "The release rule must keep (practically) every release image."
  }

  assert {
    condition = alltrue([
      for rule in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules :
      rule.selection.tagStatus != "any"
    ])
    error_message = "A tagStatus any rule would select release images too."
  }

  assert {
    condition = length(distinct([
      for rule in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules : rule.rulePriority
    ])) == length(jsondecode(aws_ecr_lifecycle_policy.this.policy).rules)
    error_message = "Every rule needs a unique rulePriority."
  }
}

run "release_count_cannot_be_lowered_into_expiry" {
  command = plan

  variables {
    keep_release_count = 50
  }

  expect_failures = [var.keep_release_count]
}

run "tags_are_immutable_images_scanned_and_encrypted" {
  command = plan

  assert {
    condition     = aws_ecr_repository.this.image_tag_mutability == "IMMUTABLE"
    error_message = "Tags must be immutable: a release tag may never move to another digest."
  }

  assert {
    condition     = aws_ecr_repository.this.image_scanning_configuration[0].scan_on_push == true
    error_message = "Every pushed image must be scanned (the release gate reads the findings)."
  }

  assert {
    condition     = aws_ecr_repository.this.encryption_configuration[0].encryption_type == "KMS" && aws_ecr_repository.this.force_delete == false
    error_message = "The repository must be KMS-encrypted and never deleted with its images."
  }

  assert {
    condition = one([
      for rule in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules : rule
      if rule.selection.tagStatus == "untagged"
    ]).selection.countType == "sinceImagePushed"
    error_message = "Untagged images (left by re-pushes and manifests) expire by age."
  }
}
