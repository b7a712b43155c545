# terraform test (offline, mocked provider): who may assume each role. The trust policies are
# asserted on the aws_iam_policy_document arguments we write (the mocked JSON is a placeholder).
# IRSA trust policy (the issuer's :sub names one service account in one namespace, :aud is
# sts.amazonaws.com): https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
# GitHub OIDC in AWS (StringEquals on token.actions.githubusercontent.com:sub and :aud):
# https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
}

variables {
  name                     = "incident-tracker-prod"
  cluster_name             = "incident-tracker-prod"
  cluster_arn              = "arn:aws:eks:eu-west-1:123456789012:cluster/incident-tracker-prod"
  oidc_provider_arn        = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/PROD"
  oidc_issuer              = "oidc.eks.eu-west-1.amazonaws.com/id/PROD"
  namespace                = "incident-tracker-prod"
  app_secret_arns          = { db = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db", session_key = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:session", smoke_token = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:smoke" }
  master_db_secret_arn     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:master"
  secrets_kms_key_arn      = "arn:aws:kms:eu-west-1:123456789012:key/secrets"
  ecr_repository_arn       = "arn:aws:ecr:eu-west-1:123456789012:repository/incident-tracker"
  github_oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  github_subjects          = ["repo:example/incident-tracker:environment:prod"]
  plan_github_subject      = "repo:example/incident-tracker:environment:terraform-drift"
  jenkins = {
    namespace       = "jenkins-release"
    service_account = "jenkins-deploy-prod"
  }
}

run "each_role_trusts_exactly_its_subject_and_audience" {
  command = plan

  # The app's and the migration Job's pod roles: their own service account in the app's namespace.
  assert {
    condition = alltrue([for pod, account in { app = "incident-tracker", migrate = "incident-tracker-migrate" } : anytrue([
      for c in data.aws_iam_policy_document.pod_assume[pod].statement[0].condition :
      c.test == "StringEquals" && c.variable == "oidc.eks.eu-west-1.amazonaws.com/id/PROD:sub" && toset(c.values) == toset(["system:serviceaccount:incident-tracker-prod:${account}"])
    ])])
    error_message = "Each pod role must trust its own service account in the app's namespace only."
  }

  assert {
    condition = alltrue([for pod in ["app", "migrate"] : anytrue([
      for c in data.aws_iam_policy_document.pod_assume[pod].statement[0].condition :
      c.test == "StringEquals" && c.variable == "oidc.eks.eu-west-1.amazonaws.com/id/PROD:aud" && toset(c.values) == toset(["sts.amazonaws.com"])
    ])])
    error_message = "Each pod role must require the sts.amazonaws.com audience."
  }

  # GitHub: the prod environment of this repository, nothing wider.
  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.ci_assume["github_deploy"].statement[0].condition :
      c.test == "StringEquals" && c.variable == "token.actions.githubusercontent.com:sub" && toset(c.values) == toset(["repo:example/incident-tracker:environment:prod"])
    ])
    error_message = "The GitHub deploy role must trust exactly the listed subjects (StringEquals)."
  }

  # Jenkins: the deploy service account in the release folder's namespace, never the PR one.
  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.ci_assume["jenkins_deploy"].statement[0].condition :
      c.test == "StringEquals" && c.variable == "oidc.eks.eu-west-1.amazonaws.com/id/PROD:sub" && toset(c.values) == toset(["system:serviceaccount:jenkins-release:jenkins-deploy-prod"])
    ])
    error_message = "The Jenkins role must trust jenkins-deploy-prod in jenkins-release only."
  }

  # The drift check's read-only role: GitHub's terraform-drift environment and jenkins-drift in
  # drift_namespace (default jenkins-release, where no pull request runs).
  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.ci_assume["plan"].statement[0].condition :
      c.variable == "token.actions.githubusercontent.com:sub" && toset(c.values) == toset(["repo:example/incident-tracker:environment:terraform-drift"])
      ]) && anytrue([
      for c in data.aws_iam_policy_document.ci_assume["plan"].statement[1].condition :
      c.test == "StringEquals" && c.variable == "oidc.eks.eu-west-1.amazonaws.com/id/PROD:sub" && toset(c.values) == toset(["system:serviceaccount:jenkins-release:jenkins-drift"])
    ])
    error_message = "The plan role must trust terraform-drift and jenkins-drift in jenkins-release only."
  }

  # No wildcard anywhere: every trust condition is an exact match.
  assert {
    condition = alltrue(flatten([
      for document in concat(values(data.aws_iam_policy_document.pod_assume), values(data.aws_iam_policy_document.ci_assume)) : [
        for statement in document.statement : [for c in statement.condition : c.test == "StringEquals"]
      ]
    ]))
    error_message = "Trust conditions must be StringEquals (no StringLike wildcards)."
  }

  # Every CI statement: web identity, for the STS audience of the issuer its subjects name.
  assert {
    condition = keys(data.aws_iam_policy_document.ci_assume) == ["github_deploy", "jenkins_deploy", "plan"] && alltrue(flatten([
      for document in values(data.aws_iam_policy_document.ci_assume) : [
        for statement in document.statement : [
          toset(statement.actions) == toset(["sts:AssumeRoleWithWebIdentity"]),
          length(toset([for c in statement.condition : trimsuffix(trimsuffix(c.variable, ":sub"), ":aud")])) == 1,
          anytrue([for c in statement.condition : endswith(c.variable, ":aud") && toset(c.values) == toset(["sts.amazonaws.com"])]),
        ]
      ]
    ]))
    error_message = "Each CI role's statements must require the sts.amazonaws.com audience of their subjects' issuer."
  }

  assert {
    condition = [for s in data.aws_iam_policy_document.ci_assume["plan"].statement : one(s.principals).identifiers] == [
      toset([var.github_oidc_provider_arn]), toset([var.oidc_provider_arn])
      ] && one(data.aws_iam_policy_document.ci_assume["github_deploy"].statement[0].principals).identifiers == toset([var.github_oidc_provider_arn]) && one(
      data.aws_iam_policy_document.ci_assume["jenkins_deploy"].statement[0].principals
    ).identifiers == toset([var.oidc_provider_arn])
    error_message = "GitHub subjects are trusted from GitHub's OIDC provider, Jenkins' from the cluster's (jenkins.oidc_provider_arn unset)."
  }
}

run "jenkins_off_trusts_no_jenkins_account" {
  command = plan

  variables {
    jenkins = {
      enabled = false
    }
  }

  assert {
    condition     = !contains(keys(data.aws_iam_policy_document.ci_assume), "jenkins_deploy") && length(data.aws_iam_policy_document.ci_assume["plan"].statement) == 1
    error_message = "With Jenkins off, no role may trust a Jenkins service account."
  }
}

run "github_subject_wildcards_are_refused" {
  command = plan

  variables {
    github_subjects = ["repo:example/incident-tracker:*"]
  }

  expect_failures = [var.github_subjects]
}

run "dev_deploys_from_jenkins_and_drift_runs_in_jenkins_release" {
  command = plan

  variables {
    jenkins = {
      service_account = "jenkins-deploy-dev"
    }
  }

  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.ci_assume["jenkins_deploy"].statement[0].condition :
      c.variable == "oidc.eks.eu-west-1.amazonaws.com/id/PROD:sub" && toset(c.values) == toset(["system:serviceaccount:jenkins:jenkins-deploy-dev"])
    ])
    error_message = "The Jenkins role must trust the deploy account in jenkins.namespace (default jenkins)."
  }

  assert {
    condition = anytrue([
      for c in data.aws_iam_policy_document.ci_assume["plan"].statement[1].condition :
      c.variable == "oidc.eks.eu-west-1.amazonaws.com/id/PROD:sub" && toset(c.values) == toset(["system:serviceaccount:jenkins-release:jenkins-drift"])
    ])
    error_message = "jenkins-drift is trusted in drift_namespace (default jenkins-release), not in the PR builds' namespace."
  }
}
