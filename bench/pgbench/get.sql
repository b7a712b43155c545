-- GET /incidents/{id}
\set id random(:id_low, :id_high)
BEGIN;
SELECT id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE token_hash = :token_hash;
SELECT id, title, summary, severity, status, service, commander, reporter, tags, dedup_key, started_at, declared_at, acknowledged_at, mitigated_at, resolved_at, closed_at, canceled_at, resolution_summary, cancel_reason, reopen_count, version, created_at, updated_at FROM incidents WHERE id = :id;
ROLLBACK;
