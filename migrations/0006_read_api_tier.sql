-- Read API (issue 8), second step: the stream's incident snapshots carry the effective tier
-- (team contract: greatest(incidents.tier, escalations reached)), and an escalation streams a new
-- snapshot, so a dashboard following GET /v1/stream shows the same tier as GET /v1/incidents/{id}.

CREATE OR REPLACE FUNCTION stream_incident_snapshot(incident text) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stream_events (kind, incident_id, severity, site, payload)
  SELECT 'incident', i.incident_id, i.severity, i.site, jsonb_build_object(
    'incidentId', i.incident_id,
    'status', i.status,
    'severity', i.severity,
    'title', i.title,
    'site', i.site,
    'assignee', i.assignee,
    'tier', greatest(i.tier, coalesce(
      (SELECT max(e.to_tier) FROM escalations e WHERE e.incident_id = i.incident_id), 1)),
    'policyId', i.policy_id,
    'policyVersion', i.policy_version,
    'reportedAt', stream_ms(i.reported_at),
    'resolvedAt', stream_ms(i.resolved_at),
    'closedAt', stream_ms(i.closed_at),
    'cancelledAt', stream_ms(i.cancelled_at),
    'reopenCount', i.reopen_count,
    'eventCount', i.event_count)
  FROM incidents i WHERE i.incident_id = incident;
  -- Identical notifications in one transaction are folded into one by Postgres.
  PERFORM pg_notify('sla_stream', '');
END $$;

-- An AFTER trigger sees the row it fires for, so the snapshot is read back from the table.
CREATE OR REPLACE FUNCTION stream_incident_changed() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stream_incident_snapshot(NEW.incident_id);
  RETURN NULL;
END $$;

CREATE FUNCTION stream_escalation_added() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM stream_incident_snapshot(NEW.incident_id);
  RETURN NULL;
END $$;

CREATE TRIGGER escalations_stream_insert AFTER INSERT ON escalations
  FOR EACH ROW EXECUTE FUNCTION stream_escalation_added();
