output "ecr_repository_url" {
  description = "ECR_REPOSITORY_URL: where CI pushes the image (tag = git SHA)."
  value       = module.registry.repository_url
}

output "ecr_repository_arn" {
  description = "ARN of the image repository."
  value       = module.registry.repository_arn
}

output "github_oidc_provider_arn" {
  description = "ARN of GitHub's OIDC provider, trusted by each environment's deploy role."
  value       = aws_iam_openid_connect_provider.github.arn
}
