# terraform test (offline, mocked provider): certificate, validation and the record writer.
# ACM DNS validation: https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html
# Route 53 record-name conditions in IAM:
# https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/specifying-rrset-conditions.html
# EKS Pod Identity trust (pods.eks.amazonaws.com, session tags):
# https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_route53_zone" {
    defaults = {
      name = "example.com."
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::111122223333:role/incident-tracker-test-external-dns"
    }
  }

  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:eu-west-1:111122223333:certificate/00000000-0000-4000-8000-000000000000"
      domain_validation_options = [{
        domain_name           = "incidents.example.com"
        resource_record_name  = "_0123.incidents.example.com."
        resource_record_type  = "CNAME"
        resource_record_value = "_4567.acm-validations.aws."
      }]
    }
  }
}

variables {
  name           = "incident-tracker-test"
  hostname       = "incidents.example.com"
  hosted_zone_id = "Z0123456789ABCDEFGHIJ"
  cluster_name   = "incident-tracker-test"
}

run "certificate_is_dns_validated_for_the_host" {
  # apply (against the mock): the validation's ARN is known only then.
  command = apply

  assert {
    condition     = aws_acm_certificate.this.validation_method == "DNS" && aws_acm_certificate.this.domain_name == "incidents.example.com"
    error_message = "The certificate must be for the host and validated by DNS (ACM renews it automatically then)."
  }

  assert {
    condition     = aws_acm_certificate_validation.this.certificate_arn == aws_acm_certificate.this.arn
    error_message = "Terraform must wait for the certificate to be issued."
  }

  assert {
    condition     = aws_route53_record.validation.name == "_0123.incidents.example.com." && aws_route53_record.validation.zone_id == "Z0123456789ABCDEFGHIJ"
    error_message = "ACM's validation record must be written into the hosted zone."
  }

  assert {
    condition     = output.certificate_arn == aws_acm_certificate.this.arn
    error_message = "The overlay's certificate ARN must come from the validated certificate."
  }
}

run "external_dns_may_write_only_the_host_records_of_the_zone" {
  command = plan

  assert {
    condition = alltrue([
      for statement in jsondecode(aws_iam_role_policy.external_dns.policy).Statement :
      statement.Resource == ["arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"]
      if contains(flatten([statement.Action]), "route53:ChangeResourceRecordSets")
    ])
    error_message = "ChangeResourceRecordSets must be limited to the one hosted zone."
  }

  assert {
    condition = one([
      for statement in jsondecode(aws_iam_role_policy.external_dns.policy).Statement :
      statement.Condition["ForAllValues:StringLike"]["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
      if contains(flatten([statement.Action]), "route53:ChangeResourceRecordSets")
    ]) == ["incidents.example.com", "*-incidents.example.com"]
    error_message = "external-dns may change only the host's record and its ownership TXT records."
  }

  assert {
    condition     = jsondecode(aws_iam_role.external_dns.assume_role_policy).Statement[0].Condition.StringEquals["aws:RequestTag/kubernetes-service-account"] == "external-dns"
    error_message = "Only external-dns's service account may assume the role."
  }

  assert {
    condition     = aws_eks_pod_identity_association.external_dns.namespace == "external-dns" && aws_eks_pod_identity_association.external_dns.service_account == "external-dns"
    error_message = "The role goes to kustomize/cluster's external-dns service account."
  }
}

run "a_host_outside_the_zone_is_refused" {
  command = plan

  variables {
    hostname = "incidents.example.org"
  }

  expect_failures = [aws_acm_certificate.this]
}
