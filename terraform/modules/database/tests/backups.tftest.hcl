# terraform test (offline, mocked provider): backups, deletion protection, final snapshot.
# Automated backups and their retention (1-35 days, the point-in-time restore window):
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html
# Deletion protection and the final snapshot on deletion:
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html

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
