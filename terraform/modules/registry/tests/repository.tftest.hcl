# terraform test (offline, mocked provider): the repository itself.
# Immutable tags (a pushed tag can never name another digest, so a release tag names one image):
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html
# Basic scanning on push (ci/check-release reads its findings):
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html
# Encryption with a KMS key: https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
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
