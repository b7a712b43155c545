# terraform test (offline, mocked provider): who can reach the database, and what it keeps.
# Not publicly accessible, in private subnets, behind a security group that admits PostgreSQL
# from the nodes' security group only:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.RDSSecurityGroups.html
# Encryption at rest: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.html

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
}

variables {
  name                     = "incident-tracker-prod"
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  client_security_group_id = "sg-0123456789abcdef0"
  backup_retention_period  = 30
  deletion_protection      = true
  final_snapshot           = true
}

run "reachable_from_the_nodes_only_and_encrypted" {
  command = plan

  assert {
    condition     = aws_db_instance.this.publicly_accessible == false
    error_message = "The instance must not be publicly accessible."
  }

  assert {
    condition     = toset(aws_db_subnet_group.this.subnet_ids) == toset(["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"])
    error_message = "The instance must live in the private subnets it is given."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_nodes.referenced_security_group_id == "sg-0123456789abcdef0" && aws_vpc_security_group_ingress_rule.from_nodes.cidr_ipv4 == null && aws_vpc_security_group_ingress_rule.from_nodes.cidr_ipv6 == null
    error_message = "PostgreSQL must be admitted from the nodes' security group, never from a CIDR."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.from_nodes.ip_protocol == "tcp" && aws_vpc_security_group_ingress_rule.from_nodes.from_port == 5432 && aws_vpc_security_group_ingress_rule.from_nodes.to_port == 5432
    error_message = "The nodes may reach PostgreSQL's port only."
  }

  assert {
    condition     = aws_db_instance.this.storage_encrypted == true && aws_db_instance.this.iam_database_authentication_enabled == true
    error_message = "Storage must be encrypted (KMS) and IAM authentication on."
  }
}
