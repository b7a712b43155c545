output "repository_name" {
  description = "Name of the ECR repository."
  value       = aws_ecr_repository.this.name
}

output "repository_url" {
  description = "URL to push and pull (ECR_REPOSITORY_URL in the pipeline)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the ECR repository (scope of the CI roles' ECR permissions)."
  value       = aws_ecr_repository.this.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the images."
  value       = module.kms.arn
}
