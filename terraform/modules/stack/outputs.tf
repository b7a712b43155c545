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

output "migrate_role_arn" {
  description = "MIGRATE_ROLE_ARN: eks.amazonaws.com/role-arn of the migration Job's service account."
  value       = module.identities.migrate_role_arn
}

output "db_secret_arn" {
  description = "DB_SECRET_ARN: the service's own database role (least privilege, rotated)."
  value       = module.secrets.app_db_secret_arn
}

output "db_master_secret_arn" {
  description = "DB_MASTER_SECRET_ARN: the RDS-managed master-user secret, for the migration Job only."
  value       = module.database.master_user_secret_arn
}

output "secret_key_arn" {
  description = "SECRET_KEY_ARN: the web UI's session key."
  value       = module.secrets.session_key_secret_arn
}

output "smoke_token_secret_arn" {
  description = "SMOKE_TOKEN_SECRET_ARN: the smoke test's read-only API token (the pipelines read it too)."
  value       = module.secrets.smoke_token_secret_arn
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

output "hostname" {
  description = "Ingress host of the overlay; https://<hostname>/readyz once deployed."
  value       = module.dns.hostname
}

output "certificate_arn" {
  description = "alb.ingress.kubernetes.io/certificate-arn of the overlay (issued and validated)."
  value       = module.dns.certificate_arn
}

output "plan_role_arn" {
  description = "TERRAFORM_PLAN_ROLE_ARN_<ENV> (GitHub variable, Jenkins global): the drift check's read-only role."
  value       = module.identities.plan_role_arn
}

output "github_runner_project" {
  description = "CodeBuild project of the in-VPC GitHub runners: runs-on codebuild-<this>-$${{ github.run_id }}-$${{ github.run_attempt }}."
  value       = module.runner.project_name
}

output "github_connection_arn" {
  description = "GitHub connection of the runners: PENDING until its one-time handshake in the console."
  value       = module.runner.connection_arn
}

output "deploy_values" {
  description = "The overlay's values (KEY -> value), also in SSM under deploy_parameters_path: `terraform output -json deploy_values > DIR/ENV.json` for RENDER_VALUES_DIR."
  value       = local.deploy_values
}

output "deploy_parameters_path" {
  description = "SSM path ci/render reads the overlay's values from (RENDER_VALUES_SSM_PATH; the default is this)."
  value       = local.deploy_parameters_path
}

output "people_sign_in_client_secret_arn" {
  description = "OIDC_CLIENT_SECRET_ARN: the OIDC client (JSON clientID, clientSecret) the load balancer uses; filled by Terraform with Cognito, by the identity provider's admin otherwise."
  value       = module.people_sign_in.client_secret_arn
}

output "people_sign_in_callback_url" {
  description = "The redirect URI to register with the identity provider (the ALB's /oauth2/idpresponse on the hostname)."
  value       = module.people_sign_in.callback_url
}
