terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 7.0"
    }
  }

  # Same bucket as dev and prod, its own key; see terraform/README.md.
  backend "s3" {
    key          = "incident-tracker/shared/terraform.tfstate"
    encrypt      = true
    use_lockfile = true
  }
}
