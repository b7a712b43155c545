# terraform test (offline, mocked provider): the lifecycle policy keeps release images.
# ECR rule order and precedence:
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/lifecycle_policy_parameters.html

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
