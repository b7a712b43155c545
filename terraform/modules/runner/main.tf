# Self-hosted GitHub Actions runners inside the VPC: a CodeBuild project whose webhook starts a
# build for every queued workflow job whose runs-on names it
# (codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}). The build runs in the
# private subnets, so it reaches the private EKS endpoint; only the jobs that talk to the
# cluster use it (tests/delivery/test_pipelines.py), the rest stay on GitHub-hosted runners.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  project_name  = "${var.name}-deploy-runner"
  log_group     = "/aws/codebuild/${local.project_name}"
  log_group_arn = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.log_group}"
}

# Created PENDING: an administrator of the GitHub organisation completes the handshake once
# in the console (Developer Tools -> Connections -> Update pending connection), which
# installs the AWS Connector for GitHub app on this repository.
resource "aws_codestarconnections_connection" "github" {
  name          = substr("${var.name}-github", 0, 32)
  provider_type = "GitHub"

  tags = var.tags
}

resource "aws_security_group" "runner" {
  name        = "${var.name}-deploy-runner"
  description = "CodeBuild-hosted GitHub runners of ${var.name}: egress only"
  vpc_id      = var.vpc_id

  # HTTPS out: GitHub, ECR, STS, the package registries (through the NAT) and the private
  # EKS endpoint. Nothing connects in.
  egress {
    description = "HTTPS to GitHub, AWS APIs, package registries and the EKS endpoint"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  # apt and pip mirrors answer on 80 for some Debian/Ubuntu archives.
  egress {
    description = "HTTP to the Ubuntu package archive"
    from_port   = 80
    to_port     = 80
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = merge(var.tags, { Name = "${var.name}-deploy-runner" })
}

# The private endpoint admits the runners: the EKS-managed cluster security group guards the
# control-plane ENIs in the VPC.
resource "aws_security_group_rule" "cluster_from_runner" {
  description              = "Kubernetes API from the CodeBuild-hosted GitHub runners"
  type                     = "ingress"
  from_port                = 443
  to_port                  = 443
  protocol                 = "tcp"
  security_group_id        = var.cluster_security_group_id
  source_security_group_id = aws_security_group.runner.id
}

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

# The runner's own role: logs, its network interfaces, the GitHub connection. No deploy
# rights: the jobs assume the environment's deploy role with GitHub OIDC as before.
resource "aws_iam_role" "runner" {
  name               = "${var.name}-deploy-runner"
  description        = "CodeBuild-hosted GitHub runners of ${var.name}: logs, VPC ENIs, the GitHub connection"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "runner" {
  #checkov:skip=CKV_AWS_111:CodeBuild creates and deletes its VPC network interfaces by ID it cannot know in advance; EC2 scopes these actions to no resource
  #checkov:skip=CKV_AWS_356:same statement: ec2 Create/DeleteNetworkInterface and the Describe calls of CodeBuild's VPC support take "*" only
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.log_group_arn, "${local.log_group_arn}:*"]
  }

  statement {
    sid = "VpcDescribe"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:DeleteNetworkInterface",
      "ec2:DescribeDhcpOptions",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"] # these actions support no resource-level scoping
  }

  statement {
    sid       = "VpcAttach"
    actions   = ["ec2:CreateNetworkInterfacePermission"]
    resources = ["arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:network-interface/*"]

    condition {
      test     = "ArnEquals"
      variable = "ec2:Subnet"
      values = [
        for id in var.subnet_ids :
        "arn:${data.aws_partition.current.partition}:ec2:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:subnet/${id}"
      ]
    }

    condition {
      test     = "StringEquals"
      variable = "ec2:AuthorizedService"
      values   = ["codebuild.amazonaws.com"]
    }
  }

  statement {
    sid       = "GitHubConnection"
    actions   = ["codeconnections:GetConnectionToken", "codeconnections:GetConnection", "codestar-connections:GetConnectionToken", "codestar-connections:GetConnection", "codestar-connections:UseConnection"]
    resources = [aws_codestarconnections_connection.github.arn]
  }
}

resource "aws_iam_role_policy" "runner" {
  name   = "runner"
  role   = aws_iam_role.runner.id
  policy = data.aws_iam_policy_document.runner.json
}

resource "aws_codebuild_project" "runner" {
  name         = local.project_name
  description  = "GitHub Actions runners for ${var.github_repository} jobs that reach the ${var.name} cluster"
  service_role = aws_iam_role.runner.arn
  #checkov:skip=CKV_AWS_147:NO_ARTIFACTS and no cache: the project stores no build output to encrypt with a key of ours
  build_timeout = 60

  artifacts {
    type = "NO_ARTIFACTS"
  }

  environment {
    # Ubuntu, like ubuntu-24.04 runners: actions/setup-python has builds for it.
    image        = "aws/codebuild/standard:7.0"
    type         = "LINUX_CONTAINER"
    compute_type = "BUILD_GENERAL1_SMALL"
    # No Docker daemon: deploy jobs run kubectl and aws, never a build.
    privileged_mode = false
  }

  source {
    type     = "GITHUB"
    location = "https://github.com/${var.github_repository}.git"
  }

  vpc_config {
    vpc_id             = var.vpc_id
    subnets            = var.subnet_ids
    security_group_ids = [aws_security_group.runner.id]
  }

  logs_config {
    cloudwatch_logs {
      group_name = local.log_group
    }
  }

  tags = var.tags
}

resource "aws_codebuild_source_credential" "github" {
  auth_type   = "CODECONNECTIONS"
  server_type = "GITHUB"
  token       = aws_codestarconnections_connection.github.arn
}

# A build per queued workflow job; CodeBuild picks only jobs whose label names this project.
resource "aws_codebuild_webhook" "runner" {
  project_name = aws_codebuild_project.runner.name
  build_type   = "BUILD"

  filter_group {
    filter {
      type    = "EVENT"
      pattern = "WORKFLOW_JOB_QUEUED"
    }
  }

  depends_on = [aws_codebuild_source_credential.github]
}
