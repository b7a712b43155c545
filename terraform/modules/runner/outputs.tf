output "project_name" {
  description = "The CodeBuild project: runs-on codebuild-<this>-$${{ github.run_id }}-$${{ github.run_attempt }}."
  value       = aws_codebuild_project.runner.name
}

output "connection_arn" {
  description = "The GitHub connection, PENDING until its one-time handshake in the console."
  value       = aws_codestarconnections_connection.github.arn
}

output "security_group_id" {
  description = "Security group of the runners."
  value       = aws_security_group.runner.id
}
