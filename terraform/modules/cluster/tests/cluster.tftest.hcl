# terraform test (offline, mocked provider): what EKS needs for our NetworkPolicies to be
# enforced and the upgrade policy the environment chose.
# NetworkPolicy on the VPC CNI (managed node groups: the vpc-cni add-on's enableNetworkPolicy):
# https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
# Upgrade policy (support_type): https://docs.aws.amazon.com/eks/latest/userguide/view-upgrade-policy.html
# API server endpoint access (private by default here; a public endpoint only for listed CIDRs):
# https://docs.aws.amazon.com/eks/latest/userguide/cluster-endpoint.html

mock_provider "aws" {
  # Mocked values are random strings; ARNs need a real partition, IAM arguments JSON objects.
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
}

variables {
  name               = "incident-tracker-test"
  kubernetes_version = "1.35"
  support_type       = "EXTENDED"
  vpc_id             = "vpc-0123456789abcdef0"
  subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
}

run "vpc_cni_enforces_network_policies" {
  command = plan

  assert {
    condition     = jsondecode(aws_eks_addon.before_nodes["vpc-cni"].configuration_values).enableNetworkPolicy == "true"
    error_message = "The vpc-cni add-on must run with enableNetworkPolicy = \"true\", or NetworkPolicies are not enforced."
  }

  # The pods run on the managed node group: its nodes must wait for the configured add-on.
  assert {
    condition     = length(aws_eks_cluster.this.compute_config[0].node_pools) == 0
    error_message = "Auto Mode node pools would run pods outside the vpc-cni add-on's configuration."
  }
}

run "upgrade_policy_is_the_environment_s_choice" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "EXTENDED"
    error_message = "upgrade_policy.support_type must be the value the environment passes."
  }

  assert {
    condition     = aws_eks_cluster.this.version == "1.35" && aws_eks_node_group.default.version == "1.35"
    error_message = "Control plane and nodes must both run kubernetes_version."
  }
}

run "support_type_is_checked" {
  command = plan

  variables {
    support_type = "NONE"
  }

  expect_failures = [var.support_type]
}

run "endpoint_is_private_unless_cidrs_are_listed" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true && aws_eks_cluster.this.vpc_config[0].endpoint_public_access == false
    error_message = "With no endpoint_public_access_cidrs the API endpoint must be private only."
  }
}

run "public_endpoint_admits_exactly_the_listed_cidrs" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["203.0.113.0/24"]
  }

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_public_access == true && aws_eks_cluster.this.vpc_config[0].endpoint_private_access == true
    error_message = "Listed CIDRs turn the public endpoint on, and the nodes keep the private one."
  }

  assert {
    condition     = toset(aws_eks_cluster.this.vpc_config[0].public_access_cidrs) == toset(["203.0.113.0/24"])
    error_message = "The public endpoint must admit exactly the listed CIDRs (EKS defaults to 0.0.0.0/0)."
  }
}

run "endpoint_is_never_open_to_the_internet" {
  command = plan

  variables {
    endpoint_public_access_cidrs = ["0.0.0.0/0"]
  }

  expect_failures = [var.endpoint_public_access_cidrs]
}
