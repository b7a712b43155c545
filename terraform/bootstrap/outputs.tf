output "state_bucket" {
  description = "Bucket to pass as -backend-config=\"bucket=...\" to every other root."
  value       = aws_s3_bucket.state.bucket
}

output "state_kms_key_arn" {
  description = "KMS key encrypting the state objects."
  value       = module.state_kms.arn
}
