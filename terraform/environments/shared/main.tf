# Account-wide pieces both environments use: the image repository (prod runs the digest dev
# ran, so there is one) and GitHub's OIDC identity provider (one per account and URL).

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Application = "incident-tracker"
      Environment = "shared"
      ManagedBy   = "terraform"
    }
  }
}

module "registry" {
  source = "../../modules/registry"

  name = var.ecr_repository_name
}

# IAM trusts GitHub's issuer through its own CA store, so no thumbprint is pinned.
resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
}
