data "aws_region" "current" {}
data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition            = data.aws_partition.current.partition
  jenkins_provider_arn = coalesce(var.jenkins.oidc_provider_arn, var.oidc_provider_arn)
  jenkins_issuer       = coalesce(var.jenkins.oidc_issuer, var.oidc_issuer)

  # Principals that deploy into the app's namespace: the GitHub role, and Jenkins when enabled.
  pods = {
    app = {
      service_account = var.service_account
      secrets         = values(var.app_secret_arns)
    }
    migrate = {
      service_account = var.migrate_service_account
      secrets         = [var.master_db_secret_arn, var.app_secret_arns.db]
    }
  }

  deployers = merge(
    { github = aws_iam_role.github_deploy.arn },
    var.jenkins.enabled ? { jenkins = aws_iam_role.jenkins[0].arn } : {},
  )

  # The secrets the deploy roles read: ci/smoke's token and ci/deploy's OIDC client, when set.
  deploy_secret_arns = compact([var.smoke_token_secret_arn, var.oidc_client_secret_arn])

  # Who may assume each CI role, one statement per identity provider: its subjects (:sub) and
  # the sts.amazonaws.com audience (:aud), both StringEquals. GitHub trusts environments of this
  # repository; Jenkins (IRSA) one service account in one namespace.
  github  = { provider_arn = var.github_oidc_provider_arn, issuer = "token.actions.githubusercontent.com" }
  jenkins = { provider_arn = local.jenkins_provider_arn, issuer = local.jenkins_issuer }
  ci_role_trust = merge(
    {
      github_deploy = [merge(local.github, { subjects = var.github_subjects })]
      plan = concat(
        [merge(local.github, { subjects = [var.plan_github_subject] })],
        var.jenkins.enabled ? [merge(local.jenkins, {
          subjects = ["system:serviceaccount:${var.jenkins.drift_namespace}:jenkins-drift"]
        })] : [],
      )
    },
    var.jenkins.enabled ? {
      jenkins_deploy = [merge(local.jenkins, {
        subjects = ["system:serviceaccount:${var.jenkins.namespace}:${var.jenkins.service_account}"]
      })]
    } : {},
  )
}

################################################################################
# Pod roles (IRSA): the app reads its own secrets; the migration Job alone reads the RDS
# master secret (and the app's database secret, to create and grant that role)
################################################################################

data "aws_iam_policy_document" "pod_assume" {
  for_each = local.pods

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${var.namespace}:${each.value.service_account}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "pod" {
  for_each = local.pods

  name               = "${var.name}-${each.key}"
  description        = "Pods of ${var.namespace}/${each.value.service_account}: read ${each.key}'s secrets"
  assume_role_policy = data.aws_iam_policy_document.pod_assume[each.key].json

  tags = var.tags
}

data "aws_iam_policy_document" "pod_secrets" {
  for_each = local.pods

  statement {
    sid = "ReadSecrets"
    # GetSecretValue also reads AWSPENDING, which the app uses while a rotation is under way.
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = each.value.secrets
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "pod_secrets" {
  for_each = local.pods

  name   = "read-secrets"
  role   = aws_iam_role.pod[each.key].id
  policy = data.aws_iam_policy_document.pod_secrets[each.key].json
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
    # ci/smoke reads the smoke token, ci/deploy the load balancer's OIDC client (to make the
    # Secret incident-tracker-oidc): exactly those secrets.
    for_each = length(local.deploy_secret_arns) == 0 ? [] : [local.deploy_secret_arns]

    content {
      sid       = "ReadDeploySecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    # ci/render reads the overlay's values, which Terraform writes under this one path (the
    # action is authorized on the path itself; nothing else in Parameter Store is readable).
    for_each = var.deploy_parameters_path == null ? [] : [var.deploy_parameters_path]

    content {
      sid       = "ReadDeployValues"
      actions   = ["ssm:GetParametersByPath"]
      resources = ["arn:${local.partition}:ssm:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:parameter${statement.value}"]
    }
  }

  dynamic "statement" {
    # Those secrets are encrypted with the secrets' customer managed key.
    for_each = length(local.deploy_secret_arns) == 0 ? [] : [var.secrets_kms_key_arn]

    content {
      sid       = "DecryptDeploySecrets"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }

  statement {
    # ci/render finds the ARN of the load balancer EKS made from the Ingress by its name
    # (OIDC_ALB_ARN). Describe actions of elasticloadbalancing take no resource ARN.
    sid       = "FindLoadBalancer"
    actions   = ["elasticloadbalancing:DescribeLoadBalancers"]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeCluster"
    actions   = ["eks:DescribeCluster"]
    resources = [var.cluster_arn]
  }
}

################################################################################
# The CI roles' trust policies (local.ci_role_trust): GitHub deploy, Jenkins deploy, plan
################################################################################

data "aws_iam_policy_document" "ci_assume" {
  for_each = local.ci_role_trust

  dynamic "statement" {
    for_each = each.value

    content {
      actions = ["sts:AssumeRoleWithWebIdentity"]

      principals {
        type        = "Federated"
        identifiers = [statement.value.provider_arn]
      }

      condition {
        test     = "StringEquals"
        variable = "${statement.value.issuer}:sub"
        values   = statement.value.subjects
      }

      condition {
        test     = "StringEquals"
        variable = "${statement.value.issuer}:aud"
        values   = ["sts.amazonaws.com"]
      }
    }
  }
}

################################################################################
# GitHub Actions deploy role: OIDC, this repository's main branch or prod environment only
################################################################################

resource "aws_iam_role" "github_deploy" {
  name                 = "${var.name}-github-deploy"
  description          = "GitHub Actions deploys to ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.ci_assume["github_deploy"].json
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

resource "aws_iam_role" "jenkins" {
  count = var.jenkins.enabled ? 1 : 0

  name                 = "${var.name}-jenkins-deploy"
  description          = "Jenkins agents deploy to ${var.cluster_name}"
  assume_role_policy   = data.aws_iam_policy_document.ci_assume["jenkins_deploy"].json
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

################################################################################
# Drift check's plan role (ci/terraform-drift): reads the environment and its state, changes
# nothing. Trusted by the GitHub environment terraform-drift and Jenkins's jenkins-drift (in
# the release folder's namespace, out of pull requests' reach).
################################################################################

resource "aws_iam_role" "plan" {
  name                 = "${var.name}-terraform-plan"
  description          = "Read-only terraform plan of ${var.name} (drift check)"
  assume_role_policy   = data.aws_iam_policy_document.ci_assume["plan"].json
  max_session_duration = 3600

  tags = var.tags
}

# AWS's ReadOnlyAccess: plan refreshes every resource type the roots manage. It reads no
# secret values (secretsmanager:GetSecretValue is not in it).
resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.plan.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"
}

data "aws_iam_policy_document" "plan_state" {
  statement {
    sid     = "DecryptTheStateThroughS3"
    actions = ["kms:Decrypt"]
    # The state key is the bootstrap root's; only decryption on S3's behalf is allowed.
    resources = ["arn:${local.partition}:kms:${data.aws_region.current.name}:*:key/*"]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "plan_state" {
  name   = "read-terraform-state"
  role   = aws_iam_role.plan.id
  policy = data.aws_iam_policy_document.plan_state.json
}
