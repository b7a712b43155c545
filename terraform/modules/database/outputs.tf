output "db_instance_identifier" {
  description = "Identifier of the DB instance."
  value       = aws_db_instance.this.identifier
}

output "db_host" {
  description = "Hostname of the instance (DB_HOST for the app)."
  value       = aws_db_instance.this.address
}

output "db_port" {
  description = "PostgreSQL port (DB_PORT for the app)."
  value       = aws_db_instance.this.port
}

output "db_name" {
  description = "Database name (DB_NAME for the app)."
  value       = aws_db_instance.this.db_name
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret with the master username/password (DB_SECRET_ARN)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "kms_key_arn" {
  description = "KMS key of the storage and of the master-user secret (the app needs kms:Decrypt on it)."
  value       = module.kms.arn
}

output "security_group_id" {
  description = "Security group of the instance."
  value       = aws_security_group.this.id
}
