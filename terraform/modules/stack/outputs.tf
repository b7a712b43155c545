output "namespace" {
  description = "Kubernetes namespace of the app in this environment."
  value       = local.namespace
}

output "ecr_repository_url" {
  description = "ECR_REPOSITORY_URL."
  value       = data.aws_ecr_repository.app.repository_url
}

output "cluster_name" {
  description = "EKS_CLUSTER_NAME."
  value       = module.cluster.cluster_name
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = module.cluster.cluster_endpoint
}

output "deploy_role_arn" {
  description = "AWS_DEPLOY_ROLE_ARN: the GitHub Actions deploy role of this environment."
  value       = module.identities.github_deploy_role_arn
}

output "jenkins_role_arn" {
  description = "JENKINS_ROLE_ARN: eks.amazonaws.com/role-arn of the Jenkins agents' service account."
  value       = module.identities.jenkins_role_arn
}

output "app_role_arn" {
  description = "APP_ROLE_ARN: eks.amazonaws.com/role-arn of the app's service account."
  value       = module.identities.app_role_arn
}

output "db_secret_arn" {
  description = "DB_SECRET_ARN: the RDS-managed master-user secret."
  value       = module.database.master_user_secret_arn
}

output "db_host" {
  description = "DB_HOST."
  value       = module.database.db_host
}

output "db_port" {
  description = "DB_PORT."
  value       = module.database.db_port
}

output "db_name" {
  description = "DB_NAME."
  value       = module.database.db_name
}

output "aws_region" {
  description = "AWS_REGION for the app and the pipeline."
  value       = data.aws_region.current.name
}

output "vpc_id" {
  description = "VPC of the environment."
  value       = module.network.vpc_id
}

output "public_subnet_ids" {
  description = "Public subnets (where the internet-facing ALB lands)."
  value       = module.network.public_subnet_ids
}

output "github_runner_project" {
  description = "CodeBuild project of the in-VPC GitHub runners: runs-on codebuild-<this>-$${{ github.run_id }}-$${{ github.run_attempt }}."
  value       = module.runner.project_name
}

output "github_connection_arn" {
  description = "GitHub connection of the runners: PENDING until its one-time handshake in the console."
  value       = module.runner.connection_arn
}

output "smoke_token_secret_arn" {
  description = "SMOKE_TOKEN_SECRET_ARN: the secret ci/smoke reads the smoke token from."
  value       = var.smoke_token_secret_arn
}
