"""Outbound webhooks: subscriptions, a transactional outbox and the worker that sends it."""
