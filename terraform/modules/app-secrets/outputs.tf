output "app_db_secret_arn" {
  description = "DB_SECRET_ARN of the pods: the service's own database role (APP_DB_SECRET_ARN of the migration Job)."
  value       = aws_secretsmanager_secret.app_db.arn
}

output "session_key_secret_arn" {
  description = "SECRET_KEY_ARN: the web UI's session key."
  value       = aws_secretsmanager_secret.session_key.arn
}

output "smoke_token_secret_arn" {
  description = "SMOKE_TOKEN_SECRET_ARN: the smoke test's read-only API token."
  value       = aws_secretsmanager_secret.smoke_token.arn
}
