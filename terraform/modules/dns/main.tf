# The service's public name: an ACM certificate validated through Route 53, and external-dns
# (kustomize/cluster) allowed to write the record for the Ingress's load balancer, whose DNS
# name only exists once the controller has created it from the Ingress.

data "aws_partition" "current" {}

data "aws_route53_zone" "this" {
  zone_id = var.hosted_zone_id
}

locals {
  partition = data.aws_partition.current.partition
  zone_name = trimsuffix(data.aws_route53_zone.this.name, ".")
  zone_arn  = "arn:${local.partition}:route53:::hostedzone/${var.hosted_zone_id}"
  # external-dns keeps ownership TXT records beside the record: "<kind>-<host>" (a-, aaaa-,
  # cname-) and, in its older format, "<host>" itself.
  record_names = [var.hostname, "*-${var.hostname}"]
}

################################################################################
# Certificate (DNS validation: renewed by ACM for as long as the records stay)
################################################################################

resource "aws_acm_certificate" "this" {
  domain_name       = var.hostname
  validation_method = "DNS"

  tags = merge(var.tags, { Name = var.hostname })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = endswith(var.hostname, ".${local.zone_name}")
      error_message = "hostname must be a name inside the hosted zone hosted_zone_id."
    }
  }
}

# One name, so one validation record.
resource "aws_route53_record" "validation" {
  zone_id         = var.hosted_zone_id
  name            = one(aws_acm_certificate.this.domain_validation_options).resource_record_name
  type            = one(aws_acm_certificate.this.domain_validation_options).resource_record_type
  records         = [one(aws_acm_certificate.this.domain_validation_options).resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

# Waits until ACM has issued the certificate, so the Ingress never names a pending one.
resource "aws_acm_certificate_validation" "this" {
  certificate_arn         = aws_acm_certificate.this.arn
  validation_record_fqdns = [aws_route53_record.validation.fqdn]
}

################################################################################
# external-dns: EKS Pod Identity role that may change this host's records in this zone only
################################################################################

# Policies as jsonencode (not aws_iam_policy_document): modules/dns/tests assert on them.
resource "aws_iam_role" "external_dns" {
  name        = "${var.name}-external-dns"
  description = "external-dns in ${var.cluster_name}: records of ${var.hostname} only"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        StringEquals = {
          "aws:RequestTag/eks-cluster-name"           = var.cluster_name
          "aws:RequestTag/kubernetes-namespace"       = var.external_dns.namespace
          "aws:RequestTag/kubernetes-service-account" = var.external_dns.service_account
        }
      }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "external_dns" {
  name = "route53-${var.hostname}"
  role = aws_iam_role.external_dns.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ChangeTheServiceRecordsOnly"
        Effect   = "Allow"
        Action   = ["route53:ChangeResourceRecordSets"]
        Resource = [local.zone_arn]
        Condition = {
          "ForAllValues:StringLike" = {
            "route53:ChangeResourceRecordSetsNormalizedRecordNames" = local.record_names
          }
          "ForAllValues:StringEquals" = {
            "route53:ChangeResourceRecordSetsRecordTypes" = ["A", "AAAA", "TXT"]
          }
        }
      },
      {
        Sid      = "ReadTheZone"
        Effect   = "Allow"
        Action   = ["route53:ListResourceRecordSets", "route53:ListTagsForResource"]
        Resource = [local.zone_arn]
      },
      {
        # Listing zones has no resource-level permissions.
        Sid      = "FindTheZone"
        Effect   = "Allow"
        Action   = ["route53:ListHostedZones"]
        Resource = ["*"]
      },
    ]
  })
}

# Pod Identity, not IRSA: the association lives here, so kustomize/cluster's external-dns is
# the same manifest in every cluster (no per-cluster role-arn annotation to fill in).
resource "aws_eks_pod_identity_association" "external_dns" {
  cluster_name    = var.cluster_name
  namespace       = var.external_dns.namespace
  service_account = var.external_dns.service_account
  role_arn        = aws_iam_role.external_dns.arn

  tags = var.tags
}
