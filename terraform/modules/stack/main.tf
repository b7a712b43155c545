# One environment of Incident Tracker: network -> cluster -> database -> identities.
# The ECR repository and the GitHub OIDC provider are account-wide (environments/shared).

locals {
  name      = "${var.app_name}-${var.environment}"
  azs       = [for suffix in var.az_suffixes : "${data.aws_region.current.name}${suffix}"]
  namespace = "${var.app_name}-${var.environment}"
  tags      = merge(var.tags, { Environment = var.environment })

  # One Jenkins service account per environment (PR builds run as one no role trusts), so the
  # agent of one environment's stages cannot assume the other environment's role.
  jenkins = merge(var.jenkins, {
    service_account = coalesce(var.jenkins.service_account, "jenkins-deploy-${var.environment}")
  })

  # The deploy role trusts one GitHub environment of this repository, named like this one:
  # "dev" (deploy.yml's build-and-push and deploy jobs both run in it; it admits main only)
  # or "prod" (the release job; its protection rules give the approval).
  github_subjects = ["repo:${var.github_repository}:environment:${var.environment}"]

  deploy_parameters_path = "/${var.app_name}/${var.environment}/deploy"
  deploy_values = merge({
    AWS_REGION             = data.aws_region.current.name
    APP_ROLE_ARN           = module.identities.app_role_arn
    MIGRATE_ROLE_ARN       = module.identities.migrate_role_arn
    DB_HOST                = module.database.db_host
    DB_SECRET_ARN          = module.secrets.app_db_secret_arn
    DB_MASTER_SECRET_ARN   = module.database.master_user_secret_arn
    SECRET_KEY_ARN         = module.secrets.session_key_secret_arn
    SMOKE_TOKEN_SECRET_ARN = module.secrets.smoke_token_secret_arn
    CERTIFICATE_ARN        = module.dns.certificate_arn
    # The UI Ingress names its load balancer so; ci/render finds OIDC_ALB_ARN by it.
    LOAD_BALANCER_NAME = local.name
  }, module.people_sign_in.deploy_values)
}

data "aws_region" "current" {}

data "aws_ecr_repository" "app" {
  name = var.ecr_repository_name
}

data "aws_iam_openid_connect_provider" "github" {
  url = "https://token.actions.githubusercontent.com"
}

module "network" {
  source = "../network"

  name               = local.name
  vpc_cidr           = var.vpc_cidr
  azs                = local.azs
  single_nat_gateway = var.single_nat_gateway
  cluster_name       = local.name
  tags               = local.tags
}

module "cluster" {
  source = "../cluster"

  name                         = local.name
  kubernetes_version           = var.kubernetes_version
  support_type                 = var.kubernetes_support_type
  vpc_id                       = module.network.vpc_id
  subnet_ids                   = module.network.private_subnet_ids
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  admin_principal_arns         = var.admin_principal_arns
  node_instance_types          = var.node.instance_types
  node_min_size                = var.node.min_size
  node_max_size                = var.node.max_size
  node_desired_size            = var.node.desired_size
  tags                         = local.tags
}

module "database" {
  source = "../database"

  name                     = local.name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  client_security_group_id = module.cluster.node_security_group_id
  instance_class           = var.database.instance_class
  multi_az                 = var.database.multi_az
  deletion_protection      = var.database.deletion_protection
  final_snapshot           = var.database.final_snapshot
  backup_retention_period  = var.database.backup_retention_period
  tags                     = local.tags
}

module "secrets" {
  source = "../app-secrets"

  name                 = local.name
  kms_key_arn          = module.database.kms_key_arn
  db_host              = module.database.db_host
  db_port              = module.database.db_port
  db_name              = module.database.db_name
  db_security_group_id = module.database.security_group_id
  vpc_id               = module.network.vpc_id
  rotation_subnet_ids  = module.network.private_subnet_ids
  tags                 = local.tags
}

module "dns" {
  source = "../dns"

  name           = local.name
  hostname       = var.hostname
  hosted_zone_id = var.hosted_zone_id
  cluster_name   = module.cluster.cluster_name
  tags           = local.tags
}

module "people_sign_in" {
  source = "../people-sign-in"

  name              = local.name
  hostname          = var.hostname
  kms_key_arn       = module.database.kms_key_arn
  identity_provider = try(var.people_sign_in.identity_provider, null)
  group_scopes      = try(var.people_sign_in.group_scopes, null)
  tags              = local.tags
}

module "identities" {
  source = "../identities"

  name              = local.name
  cluster_name      = module.cluster.cluster_name
  cluster_arn       = module.cluster.cluster_arn
  oidc_provider_arn = module.cluster.oidc_provider_arn
  oidc_issuer       = module.cluster.oidc_issuer
  namespace         = local.namespace
  app_secret_arns = {
    db          = module.secrets.app_db_secret_arn
    session_key = module.secrets.session_key_secret_arn
    smoke_token = module.secrets.smoke_token_secret_arn
  }
  master_db_secret_arn     = module.database.master_user_secret_arn
  secrets_kms_key_arn      = module.database.kms_key_arn
  ecr_repository_arn       = data.aws_ecr_repository.app.arn
  allow_image_push         = var.allow_image_push
  allow_image_tag          = var.allow_image_tag
  github_oidc_provider_arn = data.aws_iam_openid_connect_provider.github.arn
  github_subjects          = local.github_subjects
  plan_github_subject      = "repo:${var.github_repository}:environment:terraform-drift"
  jenkins                  = local.jenkins
  smoke_token_secret_arn   = module.secrets.smoke_token_secret_arn
  deploy_parameters_path   = local.deploy_parameters_path
  oidc_client_secret_arn   = module.people_sign_in.client_secret_arn
  tags                     = local.tags
}

# The overlay's account-specific values (kustomize/components/terraform-values and
# people-sign-in hold them as ${KEY}): one SSM parameter per key under one path, which
# ci/render reads with the deploy role at deploy time. Nothing is copied by hand.
resource "aws_ssm_parameter" "deploy_value" {
  # checkov:skip=CKV2_AWS_34:ARNs, hostnames and endpoints, none a secret (the manifests show them); SecureString would only add a KMS grant
  for_each = local.deploy_values

  name        = "${local.deploy_parameters_path}/${each.key}"
  description = "ci/render fills $${${each.key}} in the ${var.environment} overlay with this value."
  type        = "String" # ARNs, hosts and endpoints, none of them a secret
  value       = each.value
  tags        = local.tags
}

# The jobs that reach the cluster run on these runners (tests/delivery/test_pipelines.py).
module "runner" {
  source = "../runner"

  name                      = local.name
  github_repository         = var.github_repository
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.private_subnet_ids
  cluster_security_group_id = module.cluster.cluster_security_group_id
  tags                      = local.tags
}
