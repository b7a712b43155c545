terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 7.0"
    }
  }

  # Partial configuration: the bucket (from terraform/bootstrap) and the region are given at
  # init: terraform init -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
  # Locking uses S3 conditional writes (a .tflock object), no DynamoDB table.
  backend "s3" {
    key          = "incident-tracker/shared/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
