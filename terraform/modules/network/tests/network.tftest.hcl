# terraform test (offline, mocked provider): the VPC's defaults and what is reachable.
# The default security group adopted with no rules admits and sends nothing (Terraform removes
# its default allow-all egress): https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/default_security_group
# Restrict the default security group (Security Hub EC2.2):
# https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-2
# Flow logs of every flow: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs.html

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }

  # The mocked apply: ARNs that the provider's own validation accepts.
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vpc-flow-logs/incident-tracker-prod"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/incident-tracker-prod-flow-logs"
    }
  }

  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:123456789012:key/flow-logs"
    }
  }
}

variables {
  name         = "incident-tracker-prod"
  azs          = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  cluster_name = "incident-tracker-prod"
}

# The rules of a default security group are only known after apply: a mocked apply (nothing
# real is created) gives the rules our code writes, and none if it writes none.
run "default_security_group_is_locked" {
  command = apply

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must have no ingress and no egress rule."
  }
}

run "every_flow_is_logged_and_each_zone_has_its_nat_gateway" {
  command = plan

  assert {
    condition     = alltrue([for subnet in aws_subnet.public : subnet.map_public_ip_on_launch == false])
    error_message = "Nothing launched in a public subnet may get a public address by default."
  }

  assert {
    condition     = aws_flow_log.this.traffic_type == "ALL"
    error_message = "Flow logs must record accepted and rejected traffic."
  }

  # Prod: one NAT gateway per zone, so one zone's loss leaves the others their egress.
  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_subnet.private) == 3
    error_message = "Without single_nat_gateway each zone gets its own NAT gateway and private subnet."
  }
}

run "dev_shares_one_nat_gateway" {
  command = plan

  variables {
    single_nat_gateway = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_subnet.private) == 3
    error_message = "single_nat_gateway must create one NAT gateway for all zones."
  }
}
