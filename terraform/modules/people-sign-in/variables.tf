variable "name" {
  description = "Name prefix, <app_name>-<environment>."
  type        = string
}

variable "hostname" {
  description = "The environment's hostname: the load balancer's callback is https://<hostname>/oauth2/idpresponse."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed key of the app's secrets (the OIDC client secret is encrypted with it)."
  type        = string
}

variable "identity_provider" {
  description = <<-EOT
    The company's OIDC identity provider (one row of README "Sign-in for people"): issuer,
    endpoints, end-session URL ("" for none) and the claim holding the groups. Its client ID
    and secret go into the Secrets Manager secret this module creates (output
    client_secret_arn), as JSON {"clientID": ..., "clientSecret": ...}. null: a Cognito user
    pool, app client and domain are created here and the secret is filled by Terraform.
  EOT
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    logout_url             = optional(string, "")
    groups_claim           = optional(string, "groups")
  })
  default = null

  validation {
    condition = var.identity_provider == null ? true : alltrue([
      for url in var.identity_provider == null ? [] : [
        var.identity_provider.issuer,
        var.identity_provider.authorization_endpoint,
        var.identity_provider.token_endpoint,
        var.identity_provider.user_info_endpoint,
      ] : startswith(url, "https://")
    ])
    error_message = "The load balancer reaches the identity provider over HTTPS only: every endpoint starts with https://."
  }
}

variable "group_scopes" {
  description = "OIDC_GROUP_SCOPES: identity provider group -> scope (README \"Sign-in for people\"). With Cognito, these groups are created in the user pool."
  type        = string
  default     = "sre=admin,responders=incidents:write,staff=incidents:read"
  nullable    = false
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted domain (<prefix>.auth.<region>.amazoncognito.com; unique in the region). null: name."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
