output "app_role_arn" {
  description = "Pod role of the app (APP_ROLE_ARN: eks.amazonaws.com/role-arn on the service account)."
  value       = aws_iam_role.pod["app"].arn
}

output "migrate_role_arn" {
  description = "Role of the migration Job (MIGRATE_ROLE_ARN: eks.amazonaws.com/role-arn on its service account)."
  value       = aws_iam_role.pod["migrate"].arn
}

output "github_deploy_role_arn" {
  description = "Role GitHub Actions assumes to deploy (AWS_DEPLOY_ROLE_ARN of the environment)."
  value       = aws_iam_role.github_deploy.arn
}

output "jenkins_role_arn" {
  description = "Role of the Jenkins agents' service account (null when disabled)."
  value       = var.jenkins.enabled ? aws_iam_role.jenkins[0].arn : null
}

output "plan_role_arn" {
  description = "TERRAFORM_PLAN_ROLE_ARN_<ENV>: the drift check's read-only role."
  value       = aws_iam_role.plan.arn
}
