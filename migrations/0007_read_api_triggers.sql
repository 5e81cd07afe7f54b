-- Read API (issue 8), third step: the stream triggers work per statement, not per row.
--
-- The projector and the scheduler write in bulk (one INSERT … SELECT FROM unnest per batch). Row
-- triggers cost a plpgsql call, an insert and a NOTIFY per row. Measured on the bench/read data
-- (alternating runs, shared machine): 20,000 incident updates took 5.1 s with row triggers, 2.3–3.3
-- s with these, 1.2–2.1 s with none; 30,000 milestone updates 8.3–9.4 s, 3.1–3.7 s, 0.8–1.1 s.
-- These append the same stream rows with one INSERT … SELECT and one NOTIFY per statement, from
-- the transition tables.
--
-- The helpers take keys and read the rows back (an AFTER trigger sees its statement's writes)
-- rather than taking `incidents[]` / `milestones[]`: a function signature would depend on the
-- tables' row types and keep the projector's rebuild from dropping the tables it swaps out.

DROP TRIGGER incidents_stream_insert ON incidents;
DROP TRIGGER incidents_stream_update ON incidents;
DROP TRIGGER milestones_stream_insert ON milestones;
DROP TRIGGER milestones_stream_update ON milestones;
DROP TRIGGER outbox_stream_insert ON outbox;
DROP TRIGGER escalations_stream_insert ON escalations;
DROP FUNCTION stream_incident_changed();
DROP FUNCTION stream_milestone_changed();
DROP FUNCTION stream_sla_event();
DROP FUNCTION stream_escalation_added();
DROP FUNCTION stream_incident_snapshot(text);

-- Trimming by age scans a time-ordered, append-only table: a BRIN index costs next to nothing to
-- maintain, where a btree costs every insert.
DROP INDEX stream_events_at_idx;
CREATE INDEX stream_events_at_brin ON stream_events USING brin (at);

-- Snapshots of the given incidents as they are now, with the effective tier (so an escalation,
-- which changes no incident row, streams the new tier too).
CREATE FUNCTION stream_incident_snapshots(ids text[]) RETURNS void
  LANGUAGE sql AS $$
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
  FROM incidents i
  WHERE i.incident_id = ANY(ids)
  ORDER BY i.incident_id;
  -- One wake-up per statement (identical notifications in a transaction are folded anyway).
  SELECT pg_notify('sla_stream', '');
$$;

CREATE FUNCTION stream_incidents_inserted() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  ids text[] := ARRAY(SELECT incident_id FROM new_rows);
BEGIN
  IF cardinality(ids) > 0 THEN
    PERFORM stream_incident_snapshots(ids);
  END IF;
  RETURN NULL;
END $$;

-- updated_at and last_event_at alone change nothing a dashboard shows.
CREATE FUNCTION stream_incidents_updated() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  ids text[] := ARRAY(
    SELECT n.incident_id FROM new_rows n JOIN old_rows o USING (incident_id)
    WHERE (o.status, o.severity, o.title, o.site, o.assignee, o.tier, o.policy_id,
           o.policy_version, o.reported_at, o.resolved_at, o.closed_at, o.cancelled_at,
           o.reopen_count, o.event_count)
          IS DISTINCT FROM
          (n.status, n.severity, n.title, n.site, n.assignee, n.tier, n.policy_id,
           n.policy_version, n.reported_at, n.resolved_at, n.closed_at, n.cancelled_at,
           n.reopen_count, n.event_count));
BEGIN
  IF cardinality(ids) > 0 THEN
    PERFORM stream_incident_snapshots(ids);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER incidents_stream_insert AFTER INSERT ON incidents
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stream_incidents_inserted();
CREATE TRIGGER incidents_stream_update AFTER UPDATE ON incidents
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stream_incidents_updated();

-- The given milestones as they are now, with their incident's severity and site (the filters).
CREATE FUNCTION stream_milestone_snapshots(ids text[], names text[], cycles int[]) RETURNS void
  LANGUAGE sql AS $$
  INSERT INTO stream_events (kind, incident_id, severity, site, payload)
  SELECT 'milestone', m.incident_id, i.severity, i.site, jsonb_build_object(
    'incidentId', m.incident_id,
    'milestone', m.milestone,
    'cycle', m.cycle,
    'state', m.state,
    'startAt', stream_ms(m.start_at),
    'dueAt', stream_ms(m.due_at),
    'warnAt', (SELECT coalesce(jsonb_agg(stream_ms(w) ORDER BY w), '[]'::jsonb) FROM unnest(m.warn_at) w),
    'metAt', stream_ms(m.met_at),
    'breachedAt', stream_ms(m.breached_at),
    'pausedMs', m.paused_ms,
    'escalatesToTier', m.escalates_to_tier)
  FROM unnest(ids, names, cycles) AS k(incident_id, milestone, cycle)
  JOIN milestones m USING (incident_id, milestone, cycle)
  LEFT JOIN incidents i ON i.incident_id = m.incident_id
  ORDER BY m.incident_id, m.cycle, m.milestone;
  SELECT pg_notify('sla_stream', '');
$$;

CREATE FUNCTION stream_milestones_inserted() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
  names text[];
  cycles int[];
BEGIN
  SELECT array_agg(incident_id), array_agg(milestone), array_agg(cycle) INTO ids, names, cycles
  FROM new_rows;
  IF ids IS NOT NULL THEN
    PERFORM stream_milestone_snapshots(ids, names, cycles);
  END IF;
  RETURN NULL;
END $$;

-- Only rows with a visible change (the projector may rewrite unchanged ones).
CREATE FUNCTION stream_milestones_updated() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  ids text[];
  names text[];
  cycles int[];
BEGIN
  SELECT array_agg(n.incident_id), array_agg(n.milestone), array_agg(n.cycle)
    INTO ids, names, cycles
  FROM new_rows n JOIN old_rows o USING (incident_id, milestone, cycle)
  WHERE (o.state, o.start_at, o.due_at, o.warn_at, o.met_at, o.breached_at, o.paused_ms,
         o.escalates_to_tier)
        IS DISTINCT FROM
        (n.state, n.start_at, n.due_at, n.warn_at, n.met_at, n.breached_at, n.paused_ms,
         n.escalates_to_tier);
  IF ids IS NOT NULL THEN
    PERFORM stream_milestone_snapshots(ids, names, cycles);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER milestones_stream_insert AFTER INSERT ON milestones
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stream_milestones_inserted();
CREATE TRIGGER milestones_stream_update AFTER UPDATE ON milestones
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stream_milestones_updated();

-- SLA events join the stream when they are written (with the state change that caused them), not
-- when the relay publishes them: a dashboard should not depend on Kafka being up. The pager fields
-- carry severity and site; the incident row is the fallback.
CREATE FUNCTION stream_sla_events() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stream_events (kind, incident_id, severity, site, payload)
  SELECT 'sla', n.message_key,
         coalesce(n.payload #>> '{data,severity}', i.severity),
         coalesce(n.payload #>> '{data,site}', i.site),
         n.payload
  FROM new_rows n
  LEFT JOIN incidents i ON i.incident_id = n.message_key
  ORDER BY n.created_at, n.id;
  IF FOUND THEN
    PERFORM pg_notify('sla_stream', '');
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_stream_insert AFTER INSERT ON outbox
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stream_sla_events();

CREATE FUNCTION stream_escalations_added() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  ids text[] := ARRAY(SELECT DISTINCT incident_id FROM new_rows);
BEGIN
  IF cardinality(ids) > 0 THEN
    PERFORM stream_incident_snapshots(ids);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER escalations_stream_insert AFTER INSERT ON escalations
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION stream_escalations_added();
