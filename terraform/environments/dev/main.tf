provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Application = "incident-tracker"
      Environment = "dev"
      ManagedBy   = "terraform"
      Repository  = var.github_repository
    }
  }
}

module "stack" {
  source = "../../modules/stack"

  environment        = "dev"
  az_suffixes        = coalesce(var.az_suffixes, ["a", "b"])
  vpc_cidr           = "10.10.0.0/16"
  single_nat_gateway = true
  kubernetes_version = "1.35"
  # Dev is upgraded first (terraform/README.md, "Kubernetes upgrades"); should it ever reach the
  # end of standard support, EKS upgrading it is the early warning, not an outage.
  kubernetes_support_type = "STANDARD"

  node = {
    instance_types = ["t3.large"]
    min_size       = 2
    max_size       = 3
    desired_size   = 2
  }

  # The overlay's Ingress host (kustomize/overlays/dev); a name inside var.hosted_zone_id.
  hostname       = "incident-tracker.dev.example.com"
  hosted_zone_id = var.hosted_zone_id

  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  admin_principal_arns         = var.admin_principal_arns

  database = {
    instance_class = "db.t4g.medium"
    multi_az       = false
    # Dev is rebuilt at will: 7 days of point-in-time restore, no final snapshot.
    final_snapshot          = false
    deletion_protection     = false
    backup_retention_period = 7
  }

  # Every merge to main builds, pushes and deploys dev, from this repository's "dev" GitHub
  # environment, the only one the dev deploy role trusts (modules/stack): it may push images.
  github_repository = var.github_repository
  allow_image_push  = true
  jenkins           = var.jenkins
  people_sign_in    = var.people_sign_in
}
