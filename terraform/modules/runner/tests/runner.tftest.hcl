# Offline plan of the runner module with a mocked AWS provider (terraform test): the values
# that make a runner reachable for GitHub and able to reach the private EKS endpoint.
mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
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
  name                      = "incident-tracker-dev"
  github_repository         = "example/incident-tracker"
  vpc_id                    = "vpc-0123456789abcdef0"
  subnet_ids                = ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"]
  cluster_security_group_id = "sg-0cccccccccccccccc"
}

run "runner_in_the_private_subnets_with_a_job_webhook" {
  command = plan

  assert {
    condition     = aws_codebuild_project.runner.name == "incident-tracker-dev-deploy-runner"
    error_message = "The workflows' runs-on label names incident-tracker-<env>-deploy-runner."
  }

  assert {
    condition     = one(aws_codebuild_project.runner.vpc_config).subnets == toset(var.subnet_ids)
    error_message = "The runner must start in the private subnets."
  }

  assert {
    condition     = one(one(aws_codebuild_webhook.runner.filter_group).filter).pattern == "WORKFLOW_JOB_QUEUED"
    error_message = "The webhook must start a build per queued workflow job."
  }

  assert {
    condition     = one(aws_codebuild_project.runner.environment).privileged_mode == false
    error_message = "Deploy jobs need no Docker daemon."
  }

  assert {
    condition = (
      aws_security_group_rule.cluster_from_runner.security_group_id == var.cluster_security_group_id
      && aws_security_group_rule.cluster_from_runner.from_port == 443
      && aws_security_group_rule.cluster_from_runner.type == "ingress"
    )
    error_message = "The cluster security group must admit the runners on 443."
  }
}
