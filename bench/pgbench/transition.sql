-- POST /incidents/{id}/transitions: lock, update, timeline event, audit, then the reload
-- of the committed row that renders the response.
\set id random(:id_low, :id_high)
BEGIN;
SELECT id, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at FROM api_tokens WHERE token_hash = :token_hash;
SELECT id, title, summary, severity, status, service, commander, reporter, tags, dedup_key, started_at, declared_at, acknowledged_at, mitigated_at, resolved_at, closed_at, canceled_at, resolution_summary, cancel_reason, reopen_count, version, created_at, updated_at FROM incidents WHERE id = :id FOR UPDATE;
UPDATE incidents SET status = 'identified', version = version + 1, updated_at = now() WHERE id = :id;
INSERT INTO incident_events (incident_id, kind, body, data, actor, occurred_at) VALUES (:id, 'status_change', NULL, '{"from": "investigating", "to": "identified"}', 'bench', now()) RETURNING id;
INSERT INTO audit_log (occurred_at, actor, action, entity_type, entity_id, before, after, request_id) VALUES (now(), 'bench', 'incident.transition', 'incident', :id, '{"id": 1, "title": "pgbench storm", "summary": "p99 above SLO", "severity": "SEV2", "status": "triage", "service": "checkout", "commander": null, "reporter": "bench", "tags": ["bench", "latency"], "dedup_key": null, "started_at": "2026-11-22T04:10:00Z", "declared_at": "2026-11-22T04:10:00Z", "acknowledged_at": null, "mitigated_at": null, "resolved_at": null, "closed_at": null, "canceled_at": null, "resolution_summary": null, "cancel_reason": null, "reopen_count": 0, "version": 1, "created_at": "2026-11-22T04:10:00Z", "updated_at": "2026-11-22T04:10:00Z"}', '{"id": 1, "title": "pgbench storm", "summary": "p99 above SLO", "severity": "SEV2", "status": "triage", "service": "checkout", "commander": null, "reporter": "bench", "tags": ["bench", "latency"], "dedup_key": null, "started_at": "2026-11-22T04:10:00Z", "declared_at": "2026-11-22T04:10:00Z", "acknowledged_at": null, "mitigated_at": null, "resolved_at": null, "closed_at": null, "canceled_at": null, "resolution_summary": null, "cancel_reason": null, "reopen_count": 0, "version": 1, "created_at": "2026-11-22T04:10:00Z", "updated_at": "2026-11-22T04:10:00Z"}', 'pgbench') RETURNING id;
COMMIT;
BEGIN;
SELECT id, title, summary, severity, status, service, commander, reporter, tags, dedup_key, started_at, declared_at, acknowledged_at, mitigated_at, resolved_at, closed_at, canceled_at, resolution_summary, cancel_reason, reopen_count, version, created_at, updated_at FROM incidents WHERE id = :id;
ROLLBACK;
