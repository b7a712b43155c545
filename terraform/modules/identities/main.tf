data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  partition            = data.aws_partition.current.partition
  jenkins_provider_arn = coalesce(var.jenkins.oidc_provider_arn, var.oidc_provider_arn)
  jenkins_issuer       = coalesce(var.jenkins.oidc_issuer, var.oidc_issuer)

  # Principals that deploy into the app's namespace: the GitHub role, and Jenkins when enabled.
  deployers = merge(
    { github = aws_iam_role.github_deploy.arn },
    var.jenkins.enabled ? { jenkins = aws_iam_role.jenkins[0].arn } : {},
  )
}

################################################################################
# The app's pod role (IRSA): reads its own database secret, nothing else
################################################################################

data "aws_iam_policy_document" "app_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${var.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "app" {
  name               = "${var.name}-app"
  description        = "Pods of ${var.namespace}/${var.service_account}: read the DB secret"
  assume_role_policy = data.aws_iam_policy_document.app_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "app" {
  statement {
    sid       = "ReadDatabaseSecret"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [var.db_secret_arn]
  }

  statement {
    sid       = "DecryptDatabaseSecret"
    actions   = ["kms:Decrypt"]
    resources = [var.db_secret_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "app" {
  name   = "read-db-secret"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.app.json
}

################################################################################
# What a deployer may do in AWS: ECR on this one repository, describe this one cluster.
# (Kubernetes rights come from the access entries below.)
################################################################################

data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action supports no resource-level scoping
  }

  statement {
    sid = "EcrRead"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:DescribeImages",
      "ecr:DescribeImageScanFindings",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.ecr_repository_arn]
  }

  dynamic "statement" {
    for_each = var.allow_image_push ? [1] : []

    content {
      sid = "EcrPush"
      actions = [
        "ecr:CompleteLayerUpload",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = [var.ecr_repository_arn]
    }
  }

  dynamic "statement" {
    # A tag is a manifest PUT that names layers already in the repository; no layer upload.
    for_each = var.allow_image_tag && !var.allow_image_push ? [1] : []

    content {
      sid       = "EcrTag"
      actions   = ["ecr:PutImage"]
      resources = [var.ecr_repository_arn]
    }
  }

  dynamic "statement" {
    # ci/smoke reads the smoke token from its secret with the deploy role.
    for_each = var.smoke_token_secret_arn == null ? [] : [var.smoke_token_secret_arn]

    content {
      sid       = "ReadSmokeToken"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "DescribeCluster"
    actions   = ["eks:DescribeCluster"]
    resources = [var.cluster_arn]
  }
}

################################################################################
# GitHub Actions deploy role: OIDC, this repository's main branch or prod environment only
################################################################################

data "aws_iam_policy_document" "github_assume" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = var.github_subjects
    }
  }
}

resource "aws_iam_role" "github_deploy" {
  name                 = "${var.name}-github-deploy"
  description          = "GitHub Actions deploys to ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.github_assume.json
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "github_deploy" {
  name   = "deploy"
  role   = aws_iam_role.github_deploy.id
  policy = data.aws_iam_policy_document.deploy.json
}

################################################################################
# Jenkins deploy agents' role (IRSA on the cluster Jenkins runs in): this environment's
# deploy service account only; PR builds run as another one, which no role trusts
################################################################################

data "aws_iam_policy_document" "jenkins_assume" {
  count = var.jenkins.enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.jenkins_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.jenkins_issuer}:sub"
      values   = ["system:serviceaccount:${var.jenkins.namespace}:${var.jenkins.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.jenkins_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "jenkins" {
  count = var.jenkins.enabled ? 1 : 0

  name                 = "${var.name}-jenkins-deploy"
  description          = "Jenkins agents deploy to ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.jenkins_assume[0].json
  max_session_duration = 3600

  tags = var.tags
}

resource "aws_iam_role_policy" "jenkins" {
  count = var.jenkins.enabled ? 1 : 0

  name   = "deploy"
  role   = aws_iam_role.jenkins[0].id
  policy = data.aws_iam_policy_document.deploy.json
}

################################################################################
# Kubernetes access for the deployers: edit rights in the app's namespace only
################################################################################

resource "aws_eks_access_entry" "deployer" {
  for_each = local.deployers

  cluster_name  = var.cluster_name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "deployer" {
  for_each = local.deployers

  cluster_name  = var.cluster_name
  principal_arn = aws_eks_access_entry.deployer[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"

  access_scope {
    type       = "namespace"
    namespaces = [var.namespace]
  }
}
