output "stack" {
  description = "Every output of modules/stack (what the pipeline and the app read, terraform/README.md): terraform output -json stack."
  value       = module.stack
}
