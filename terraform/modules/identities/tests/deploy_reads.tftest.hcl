# Offline plan of the identities module (terraform test, mocked AWS provider): what the CI
# deploy roles may read for ci/render, the overlay's values in Parameter Store, on exactly the
# environment's path. GetParametersByPath is authorized on the path's own ARN:
# https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "210987654321" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  # Mocked strings are random; IAM resources validate their policy as JSON.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
}

variables {
  name              = "incident-tracker-dev"
  cluster_name      = "incident-tracker-dev"
  cluster_arn       = "arn:aws:eks:eu-west-1:210987654321:cluster/incident-tracker-dev"
  oidc_provider_arn = "arn:aws:iam::210987654321:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
  oidc_issuer       = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"
  namespace         = "incident-tracker-dev"
  app_secret_arns = {
    db          = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:db-Q1w2E3"
    session_key = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:key-U7i8O9"
    smoke_token = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:smoke-P0a1S2"
  }
  master_db_secret_arn     = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:rds-R4t5Y6"
  secrets_kms_key_arn      = "arn:aws:kms:eu-west-1:210987654321:key/6f1d2c3b-4a5e-4f60-9a8b-7c6d5e4f3a2b"
  ecr_repository_arn       = "arn:aws:ecr:eu-west-1:210987654321:repository/incident-tracker"
  allow_image_push         = false
  github_oidc_provider_arn = "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"
  github_subjects          = ["repo:acme/incident-tracker:environment:dev"]
  plan_github_subject      = "repo:acme/incident-tracker:environment:terraform-drift"
  jenkins                  = { enabled = false }
  deploy_parameters_path   = "/incident-tracker/dev/deploy"
  oidc_client_secret_arn   = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:incident-tracker-dev/oidc-client-Zx9Yw8"
}

run "deploy_roles_read_exactly_the_environments_parameter_path" {
  command = plan

  assert {
    condition = [
      for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "ReadDeployValues"
    ] == [toset(["arn:aws:ssm:eu-west-1:210987654321:parameter/incident-tracker/dev/deploy"])]
    error_message = "ci/render's values: ssm:GetParametersByPath on exactly /incident-tracker/dev/deploy."
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.deploy.statement : s.actions if s.sid == "ReadDeployValues"
    ] == [toset(["ssm:GetParametersByPath"])]
    error_message = "The deploy roles only list the parameters by path (no PutParameter, no GetParameter on *)."
  }

  assert {
    condition = alltrue(flatten([
      for s in data.aws_iam_policy_document.deploy.statement : [
        for r in s.resources : !strcontains(r, ":ssm:") || s.sid == "ReadDeployValues"
      ]
    ]))
    error_message = "No other statement of the deploy policy reaches Parameter Store."
  }
}

# ci/deploy reads the load balancer's OIDC client to make the Kubernetes Secret, ci/smoke the
# smoke token: exactly those secrets, decrypted through Secrets Manager only.
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
run "deploy_roles_read_exactly_the_oidc_client_secret" {
  command = plan

  assert {
    condition = [
      for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "ReadDeploySecrets"
    ] == [toset([var.oidc_client_secret_arn])]
    error_message = "The deploy roles read the OIDC client's secret and no other (no smoke token secret set)."
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "DecryptDeploySecrets"
    ] == [toset([var.secrets_kms_key_arn])]
    error_message = "kms:Decrypt on the secrets' key (through Secrets Manager) covers the OIDC client."
  }
}

run "deploy_roles_read_the_smoke_token_and_the_oidc_client_in_one_statement" {
  command = plan

  variables {
    smoke_token_secret_arn = "arn:aws:secretsmanager:eu-west-1:210987654321:secret:smoke-P0a1S2"
  }

  assert {
    condition = [
      for s in data.aws_iam_policy_document.deploy.statement : s.resources if s.sid == "ReadDeploySecrets"
    ] == [toset([var.smoke_token_secret_arn, var.oidc_client_secret_arn])]
    error_message = "One statement reads exactly the smoke token's and the OIDC client's secrets."
  }

  assert {
    condition = alltrue([
      for s in data.aws_iam_policy_document.deploy.statement : s.sid == "ReadDeploySecrets" || !anytrue([
        for action in s.actions : startswith(action, "secretsmanager:")
      ])
    ])
    error_message = "No other statement of the deploy policy reaches Secrets Manager."
  }
}

run "no_path_no_grant" {
  command = plan

  variables {
    deploy_parameters_path = null
    oidc_client_secret_arn = null
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.deploy.statement : s if s.sid == "ReadDeployValues"]) == 0
    error_message = "Without a parameter path the deploy roles read no parameter."
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.deploy.statement : s if contains(["ReadDeploySecrets", "DecryptDeploySecrets"], s.sid)]) == 0
    error_message = "Without an OIDC client or smoke token secret the deploy roles read and decrypt none."
  }
}
