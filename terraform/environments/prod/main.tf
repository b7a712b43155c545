provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Application = "incident-tracker"
      Environment = "prod"
      ManagedBy   = "terraform"
      Repository  = var.github_repository
    }
  }
}

module "stack" {
  source = "../../modules/stack"

  environment        = "prod"
  az_suffixes        = coalesce(var.az_suffixes, ["a", "b", "c"])
  vpc_cidr           = "10.20.0.0/16"
  single_nat_gateway = false
  kubernetes_version = "1.35"
  # Prod follows dev one minor version at a time within standard support; if an upgrade slips
  # past the end of standard support, prod stays on its version (billed as extended support)
  # instead of being upgraded by EKS before dev has proven the next one.
  kubernetes_support_type = "EXTENDED"

  node = {
    instance_types = ["m6i.large"]
    min_size       = 3
    max_size       = 6
    desired_size   = 3
  }

  # The overlay's Ingress host (kustomize/overlays/prod); a name inside var.hosted_zone_id.
  hostname       = "incidents.example.com"
  hosted_zone_id = var.hosted_zone_id

  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  admin_principal_arns         = var.admin_principal_arns

  database = {
    instance_class = "db.m6g.large"
    multi_az       = true
    # 30 days of point-in-time restore (ci/restore-db); a final snapshot if ever deleted.
    final_snapshot          = true
    deletion_protection     = true
    backup_retention_period = 30
  }

  # Releases deploy prod from a job bound to the protected GitHub environment "prod" (required
  # reviewers), the only one the prod deploy role trusts (modules/stack). Prod promotes the
  # digest dev built, so it may read images and tag a release, but never push layers.
  github_repository = var.github_repository
  allow_image_push  = false
  allow_image_tag   = true
  # Prod release agents run in their own namespace, whose Jenkins cloud only the release job's
  # folder may use (ci/jenkins/jenkins.yaml): a PR naming the service account gets nothing.
  jenkins        = merge({ namespace = "jenkins-release" }, var.jenkins)
  people_sign_in = var.people_sign_in
}
