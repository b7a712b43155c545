# People sign in at the load balancer (README "Sign-in for people"): the OIDC client the ALB
# uses, in Secrets Manager (ci/deploy makes the Kubernetes Secret from it), and the identity
# provider's endpoints for the overlay. With no identity provider given, a Cognito user pool
# is the identity provider.

data "aws_region" "current" {}

locals {
  cognito      = var.identity_provider == null
  domain       = coalesce(var.cognito_domain_prefix, var.name)
  cognito_base = "https://${local.domain}.auth.${data.aws_region.current.name}.amazoncognito.com"
  # The ALB's own callback path: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html
  callback_url = "https://${var.hostname}/oauth2/idpresponse"
  groups       = [for pair in split(",", var.group_scopes) : trimspace(split("=", pair)[0]) if trimspace(pair) != ""]

  endpoints = local.cognito ? {
    issuer                 = "https://cognito-idp.${data.aws_region.current.name}.amazonaws.com/${aws_cognito_user_pool.people[0].id}"
    authorization_endpoint = "${local.cognito_base}/oauth2/authorize"
    token_endpoint         = "${local.cognito_base}/oauth2/token"
    user_info_endpoint     = "${local.cognito_base}/oauth2/userInfo"
    logout_url             = "${local.cognito_base}/logout?client_id=${aws_cognito_user_pool_client.alb[0].id}&logout_uri=https://${var.hostname}/"
    groups_claim           = "cognito:groups"
  } : var.identity_provider
}

resource "aws_secretsmanager_secret" "oidc_client" {
  # checkov:skip=CKV2_AWS_57:The identity provider issues the client secret; it is replaced there, not rotated by a function
  name        = "${var.name}/oidc-client"
  description = "OIDC client (clientID, clientSecret) the load balancer signs people in with, for ${var.name} (OIDC_CLIENT_SECRET_ARN)"
  kms_key_id  = var.kms_key_arn

  tags = var.tags
}

resource "aws_cognito_user_pool" "people" {
  count = local.cognito ? 1 : 0

  name                     = var.name
  deletion_protection      = "ACTIVE"
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = "OPTIONAL"

  software_token_mfa_configuration {
    enabled = true
  }

  admin_create_user_config {
    allow_admin_create_user_only = true # people are invited, nobody signs themselves up
  }

  password_policy {
    minimum_length    = 14
    require_lowercase = true
    require_uppercase = true
    require_numbers   = true
    require_symbols   = true
  }

  tags = var.tags
}

resource "aws_cognito_user_group" "scoped" {
  for_each = local.cognito ? toset(local.groups) : toset([])

  name         = each.key
  user_pool_id = aws_cognito_user_pool.people[0].id
  description  = "Mapped to a scope by OIDC_GROUP_SCOPES"
}

resource "aws_cognito_user_pool_domain" "people" {
  count = local.cognito ? 1 : 0

  domain       = local.domain
  user_pool_id = aws_cognito_user_pool.people[0].id
}

resource "aws_cognito_user_pool_client" "alb" {
  count = local.cognito ? 1 : 0

  name                                 = "${var.name}-alb"
  user_pool_id                         = aws_cognito_user_pool.people[0].id
  generate_secret                      = true # the ALB authenticates as a confidential client
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  callback_urls                        = [local.callback_url]
  logout_urls                          = ["https://${var.hostname}/"]
  supported_identity_providers         = ["COGNITO"]
  prevent_user_existence_errors        = "ENABLED"
}

# Cognito's client secret is known here, so Terraform fills the secret (it is in the state,
# which is encrypted in its bucket). An external identity provider's client is put by its
# admin: aws secretsmanager put-secret-value --secret-id <client_secret_arn> --secret-string file://client.json
resource "aws_secretsmanager_secret_version" "cognito_client" {
  count = local.cognito ? 1 : 0

  secret_id = aws_secretsmanager_secret.oidc_client.id
  secret_string = jsonencode({
    clientID     = aws_cognito_user_pool_client.alb[0].id
    clientSecret = aws_cognito_user_pool_client.alb[0].client_secret
  })
}
