# Offline plan of the people-sign-in module (terraform test, mocked AWS provider): who the
# identity provider is (the company's, or a Cognito user pool when none is given) and what
# the overlay gets. The load balancer's OIDC rules this encodes:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-authenticate-users.html
# (a confidential client, its redirect URI https://<DNS>/oauth2/idpresponse, HTTPS endpoints).
# Which paths authenticate (the UI) and which let bearer tokens through (/api/) is decided by
# the Ingress annotations of kustomize/components/people-sign-in, and tested where they are
# rendered: tests/delivery/test_kustomize.py.
mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  # Pool ids are validated as <region>_<alphanumerics>; a random mock string is not one.
  mock_resource "aws_cognito_user_pool" {
    defaults = { id = "eu-west-1_Ab12Cd34E" }
  }
}

variables {
  name        = "incident-tracker-dev"
  hostname    = "incident-tracker.dev.acme-corp.test"
  kms_key_arn = "arn:aws:kms:eu-west-1:210987654321:key/6f1d2c3b-4a5e-4f60-9a8b-7c6d5e4f3a2b"
}

run "no_issuer_makes_a_cognito_user_pool" {
  # apply against the mock: the pool's id (in the issuer) is a mocked value, not unknown.
  command = apply

  assert {
    condition     = output.uses_cognito && length(aws_cognito_user_pool.people) == 1 && length(aws_cognito_user_pool_client.alb) == 1
    error_message = "Without an identity provider, a Cognito user pool and an app client for the ALB."
  }

  assert {
    condition     = aws_cognito_user_pool_client.alb[0].generate_secret && aws_cognito_user_pool_client.alb[0].allowed_oauth_flows == toset(["code"])
    error_message = "The ALB is a confidential client using the authorization code flow."
  }

  assert {
    condition     = aws_cognito_user_pool_client.alb[0].callback_urls == toset(["https://incident-tracker.dev.acme-corp.test/oauth2/idpresponse"])
    error_message = "The only redirect URI is the load balancer's /oauth2/idpresponse on the hostname."
  }

  assert {
    condition     = aws_cognito_user_pool.people[0].admin_create_user_config[0].allow_admin_create_user_only
    error_message = "Nobody signs themselves up into the responders' pool."
  }

  assert {
    condition     = toset(keys(aws_cognito_user_group.scoped)) == toset(["sre", "responders", "staff"])
    error_message = "The groups OIDC_GROUP_SCOPES maps exist in the pool."
  }

  assert {
    condition = (
      output.deploy_values.OIDC_AUTHORIZATION_ENDPOINT == "https://incident-tracker-dev.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
      && output.deploy_values.OIDC_TOKEN_ENDPOINT == "https://incident-tracker-dev.auth.eu-west-1.amazoncognito.com/oauth2/token"
      && output.deploy_values.OIDC_USER_INFO_ENDPOINT == "https://incident-tracker-dev.auth.eu-west-1.amazoncognito.com/oauth2/userInfo"
      && output.deploy_values.OIDC_ISSUER == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab12Cd34E"
      && output.deploy_values.OIDC_GROUPS_CLAIM == "cognito:groups"
    )
    error_message = "The overlay gets the pool's hosted endpoints and its groups claim."
  }

  assert {
    condition     = length(aws_secretsmanager_secret_version.cognito_client) == 1
    error_message = "Terraform fills the client secret it knows (no hand step with Cognito)."
  }

  assert {
    condition     = aws_secretsmanager_secret.oidc_client.kms_key_id == var.kms_key_arn
    error_message = "The OIDC client secret is encrypted with the app's customer managed key."
  }
}

run "a_given_issuer_is_used_and_no_pool_is_made" {
  command = plan

  variables {
    identity_provider = {
      issuer                 = "https://acme.okta.com/oauth2/default"
      authorization_endpoint = "https://acme.okta.com/oauth2/default/v1/authorize"
      token_endpoint         = "https://acme.okta.com/oauth2/default/v1/token"
      user_info_endpoint     = "https://acme.okta.com/oauth2/default/v1/userinfo"
      logout_url             = "https://acme.okta.com/oauth2/default/v1/logout"
    }
  }

  assert {
    condition     = !output.uses_cognito && length(aws_cognito_user_pool.people) == 0 && length(aws_cognito_user_pool_domain.people) == 0
    error_message = "With an issuer given, no Cognito user pool."
  }

  assert {
    condition = (
      output.deploy_values.OIDC_ISSUER == "https://acme.okta.com/oauth2/default"
      && output.deploy_values.OIDC_TOKEN_ENDPOINT == "https://acme.okta.com/oauth2/default/v1/token"
      && output.deploy_values.OIDC_GROUPS_CLAIM == "groups"
      && output.deploy_values.OIDC_LOGOUT_URL == "https://acme.okta.com/oauth2/default/v1/logout"
    )
    error_message = "The overlay gets the given identity provider's endpoints."
  }

  assert {
    condition     = length(aws_secretsmanager_secret_version.cognito_client) == 0
    error_message = "Terraform never holds an external identity provider's client secret: its admin puts it."
  }
}

run "plain_http_endpoints_are_refused" {
  command = plan

  variables {
    identity_provider = {
      issuer                 = "http://idp.acme-corp.test"
      authorization_endpoint = "https://idp.acme-corp.test/authorize"
      token_endpoint         = "https://idp.acme-corp.test/token"
      user_info_endpoint     = "https://idp.acme-corp.test/userinfo"
    }
  }

  expect_failures = [var.identity_provider]
}
