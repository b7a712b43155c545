"""Changes: the deployments the pipeline records, their links to incidents, delivery metrics."""
