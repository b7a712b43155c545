output "client_secret_arn" {
  description = "OIDC_CLIENT_SECRET_ARN: the Secrets Manager secret ci/deploy makes the Secret incident-tracker-oidc from (JSON clientID, clientSecret)."
  value       = aws_secretsmanager_secret.oidc_client.arn
}

output "uses_cognito" {
  description = "Whether the identity provider is the Cognito user pool created here (no identity_provider given)."
  value       = local.cognito
}

output "callback_url" {
  description = "The redirect URI to register with the identity provider: the load balancer's /oauth2/idpresponse on the hostname."
  value       = local.callback_url
}

output "deploy_values" {
  description = "The OIDC_* deploy values ci/render puts in the overlay (the IdP's endpoints, groups claim and mapping, end-session URL, client secret ARN)."
  value = {
    OIDC_ISSUER                 = local.endpoints.issuer
    OIDC_AUTHORIZATION_ENDPOINT = local.endpoints.authorization_endpoint
    OIDC_TOKEN_ENDPOINT         = local.endpoints.token_endpoint
    OIDC_USER_INFO_ENDPOINT     = local.endpoints.user_info_endpoint
    OIDC_LOGOUT_URL             = local.endpoints.logout_url
    OIDC_GROUPS_CLAIM           = local.endpoints.groups_claim
    OIDC_GROUP_SCOPES           = var.group_scopes
    OIDC_CLIENT_SECRET_ARN      = aws_secretsmanager_secret.oidc_client.arn
  }
}
