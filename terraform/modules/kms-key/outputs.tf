output "arn" {
  description = "ARN of the key (what encryption settings and IAM policies reference)."
  value       = aws_kms_key.this.arn
}

output "id" {
  description = "Key ID of the key."
  value       = aws_kms_key.this.key_id
}
