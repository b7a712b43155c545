# Same as ../dev/outputs.tf on purpose: a root must declare its own outputs (terraform/README.md,
# Layout). Change both copies together.

output "namespace" {
  description = "Kubernetes namespace of the app."
  value       = module.stack.namespace
}

output "ecr_repository_url" {
  description = "ECR_REPOSITORY_URL: where the pipeline pushes and pulls the image."
  value       = module.stack.ecr_repository_url
}

output "cluster_name" {
  description = "EKS_CLUSTER_NAME: for aws eks update-kubeconfig."
  value       = module.stack.cluster_name
}

output "deploy_role_arn" {
  description = "AWS_DEPLOY_ROLE_ARN of this GitHub environment: the role the deploy job assumes."
  value       = module.stack.deploy_role_arn
}

output "jenkins_role_arn" {
  description = "JENKINS_ROLE_ARN: annotation of the Jenkins agents' service account."
  value       = module.stack.jenkins_role_arn
}

output "app_role_arn" {
  description = "APP_ROLE_ARN: eks.amazonaws.com/role-arn annotation of the app's service account."
  value       = module.stack.app_role_arn
}

output "db_secret_arn" {
  description = "DB_SECRET_ARN: the RDS-managed secret with the database username/password."
  value       = module.stack.db_secret_arn
}

output "db_host" {
  description = "DB_HOST for the app."
  value       = module.stack.db_host
}

output "db_port" {
  description = "DB_PORT for the app."
  value       = module.stack.db_port
}

output "db_name" {
  description = "DB_NAME for the app."
  value       = module.stack.db_name
}

output "aws_region" {
  description = "AWS_REGION for the app and the pipeline."
  value       = var.region
}
