terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 7.0"
    }
  }

  # Local state on purpose: this root creates the bucket every other root keeps its state in.
  # Keep its terraform.tfstate out of git (it is ignored) or migrate it into the bucket after.
}
