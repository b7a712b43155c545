# terraform test (offline, mocked provider): backups, deletion protection, final snapshot;
# who can reach the database.
# Automated backups and their retention (1-35 days, the point-in-time restore window):
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html
# Deletion protection and the final snapshot on deletion:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html
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

run "prod_keeps_backups_refuses_deletion_and_snapshots_on_delete" {
  command = plan

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 30
    error_message = "The instance must keep the environment's backup retention."
  }

  assert {
    condition     = aws_db_instance.this.deletion_protection == true
    error_message = "Deletion protection must follow the environment (on in prod)."
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == false && aws_db_instance.this.final_snapshot_identifier == "incident-tracker-prod-final"
    error_message = "Deleting the prod instance must leave a final snapshot."
  }

  # Automated backups kept after deletion: the restore window survives a deleted instance.
  assert {
    condition     = aws_db_instance.this.delete_automated_backups == false && aws_db_instance.this.copy_tags_to_snapshot == true
    error_message = "Automated backups must outlive the instance and carry its tags."
  }
}

run "dev_may_be_rebuilt_without_a_final_snapshot" {
  command = plan

  variables {
    name                    = "incident-tracker-dev"
    backup_retention_period = 7
    deletion_protection     = false
    final_snapshot          = false
  }

  assert {
    condition     = aws_db_instance.this.skip_final_snapshot == true && aws_db_instance.this.final_snapshot_identifier == null
    error_message = "final_snapshot = false must skip it (and name none)."
  }

  assert {
    condition     = aws_db_instance.this.backup_retention_period == 7
    error_message = "Dev keeps its own (shorter) retention, never none."
  }
}

run "backups_cannot_be_turned_off" {
  command = plan

  variables {
    backup_retention_period = 0
  }

  expect_failures = [var.backup_retention_period]
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
