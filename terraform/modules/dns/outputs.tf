output "certificate_arn" {
  description = "The issued ACM certificate: alb.ingress.kubernetes.io/certificate-arn of the overlay."
  value       = aws_acm_certificate_validation.this.certificate_arn
}

output "hostname" {
  description = "The Ingress host."
  value       = var.hostname
}

output "external_dns_role_arn" {
  description = "Role external-dns receives through EKS Pod Identity."
  value       = aws_iam_role.external_dns.arn
}
