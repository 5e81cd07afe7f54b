-- Read API (issue 8): indexes for the dashboard queries and the live-update feed behind
-- GET /v1/stream. Nothing here changes a table another part owns; the triggers only append to
-- stream_events.

-- ---------------------------------------------------------------------------------------------
-- Indexes for the read queries (checked with EXPLAIN in bench/read.ts).

-- GET /v1/incidents?sort=severity: keyset on (severity, reported_at, incident_id).
CREATE INDEX incidents_severity_reported_idx
  ON incidents (severity, reported_at DESC, incident_id DESC);
-- GET /v1/incidents?site=…: an equality filter plus the default keyset order.
CREATE INDEX incidents_site_reported_idx
  ON incidents (site, reported_at DESC, incident_id DESC);
-- GET /v1/incidents?status=open: the desk's main screen; open incidents are a small share.
CREATE INDEX incidents_open_reported_idx
  ON incidents (reported_at DESC, incident_id DESC) WHERE status = 'open';

-- Timeline: the SLA events about one incident (the outbox key is the incident id).
CREATE INDEX outbox_message_key_idx ON outbox (message_key, created_at);
-- Monthly report: escalations in a month.
CREATE INDEX escalations_escalated_at_idx ON escalations (escalated_at);
-- Monthly report: dispatches, arrivals and reopens in a month, by event time.
CREATE INDEX incident_events_type_time_idx ON incident_events (type, time);

-- ---------------------------------------------------------------------------------------------
-- Live feed. Triggers append one row per incident change, milestone change and SLA event (outbox
-- insert), in the same transaction as the change, and NOTIFY as a wake-up hint; the API process
-- reads rows after a cursor. The table is the source of truth (a missed NOTIFY only delays), and
-- it is trimmed by age, so resume (Last-Event-ID) works within the retention.
--
-- Why the cursor is (tx, id) and not id alone: ids are drawn before commit, so a transaction can
-- commit id 104 after id 105 was already read, and an "id > last" cursor would skip it. `tx` is
-- the writing transaction's id; a reader only takes rows with tx < the oldest transaction still
-- running (pg_snapshot_xmin), i.e. rows no running transaction can still add before. Reading in
-- (tx, id) order with that bound never skips a row. Rows about one incident keep their commit
-- order, because the projector writes one incident in sequential transactions.
CREATE TABLE stream_events (
  id          bigserial   NOT NULL,
  tx          xid8        NOT NULL DEFAULT pg_current_xact_id(),
  kind        text        NOT NULL CHECK (kind IN ('incident', 'milestone', 'sla')),
  incident_id text        NOT NULL,
  -- the incident's severity and site when the row was written: the stream's filters
  severity    text,
  site        text,
  payload     jsonb       NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tx, id)
);
CREATE INDEX stream_events_at_idx ON stream_events (at);

-- Instants travel as epoch milliseconds inside payloads: independent of the session's TimeZone
-- and DateStyle, and exact for the JS side.
CREATE FUNCTION stream_ms(t timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (extract(epoch FROM t) * 1000)::bigint $$;

CREATE FUNCTION stream_incident_changed() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stream_events (kind, incident_id, severity, site, payload)
  VALUES ('incident', NEW.incident_id, NEW.severity, NEW.site, jsonb_build_object(
    'incidentId', NEW.incident_id,
    'status', NEW.status,
    'severity', NEW.severity,
    'title', NEW.title,
    'site', NEW.site,
    'assignee', NEW.assignee,
    'tier', NEW.tier,
    'policyId', NEW.policy_id,
    'policyVersion', NEW.policy_version,
    'reportedAt', stream_ms(NEW.reported_at),
    'resolvedAt', stream_ms(NEW.resolved_at),
    'closedAt', stream_ms(NEW.closed_at),
    'cancelledAt', stream_ms(NEW.cancelled_at),
    'reopenCount', NEW.reopen_count,
    'eventCount', NEW.event_count));
  -- Identical notifications in one transaction are folded into one by Postgres.
  PERFORM pg_notify('sla_stream', '');
  RETURN NULL;
END $$;

CREATE TRIGGER incidents_stream_insert AFTER INSERT ON incidents
  FOR EACH ROW EXECUTE FUNCTION stream_incident_changed();
-- updated_at and last_event_at alone change nothing a dashboard shows.
CREATE TRIGGER incidents_stream_update AFTER UPDATE ON incidents
  FOR EACH ROW WHEN ((OLD.status, OLD.severity, OLD.title, OLD.site, OLD.assignee, OLD.tier,
                      OLD.policy_id, OLD.policy_version, OLD.reported_at, OLD.resolved_at,
                      OLD.closed_at, OLD.cancelled_at, OLD.reopen_count, OLD.event_count)
                     IS DISTINCT FROM
                     (NEW.status, NEW.severity, NEW.title, NEW.site, NEW.assignee, NEW.tier,
                      NEW.policy_id, NEW.policy_version, NEW.reported_at, NEW.resolved_at,
                      NEW.closed_at, NEW.cancelled_at, NEW.reopen_count, NEW.event_count))
  EXECUTE FUNCTION stream_incident_changed();

CREATE FUNCTION stream_milestone_changed() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  sev text;
  st  text;
BEGIN
  SELECT severity, site INTO sev, st FROM incidents WHERE incident_id = NEW.incident_id;
  INSERT INTO stream_events (kind, incident_id, severity, site, payload)
  VALUES ('milestone', NEW.incident_id, sev, st, jsonb_build_object(
    'incidentId', NEW.incident_id,
    'milestone', NEW.milestone,
    'cycle', NEW.cycle,
    'state', NEW.state,
    'startAt', stream_ms(NEW.start_at),
    'dueAt', stream_ms(NEW.due_at),
    'warnAt', (SELECT coalesce(jsonb_agg(stream_ms(w) ORDER BY w), '[]'::jsonb) FROM unnest(NEW.warn_at) w),
    'metAt', stream_ms(NEW.met_at),
    'breachedAt', stream_ms(NEW.breached_at),
    'pausedMs', NEW.paused_ms,
    'escalatesToTier', NEW.escalates_to_tier));
  PERFORM pg_notify('sla_stream', '');
  RETURN NULL;
END $$;

CREATE TRIGGER milestones_stream_insert AFTER INSERT ON milestones
  FOR EACH ROW EXECUTE FUNCTION stream_milestone_changed();
-- The projector may rewrite unchanged milestones; only a visible change is streamed.
CREATE TRIGGER milestones_stream_update AFTER UPDATE ON milestones
  FOR EACH ROW WHEN ((OLD.state, OLD.start_at, OLD.due_at, OLD.warn_at, OLD.met_at, OLD.breached_at,
                      OLD.paused_ms, OLD.escalates_to_tier)
                     IS DISTINCT FROM
                     (NEW.state, NEW.start_at, NEW.due_at, NEW.warn_at, NEW.met_at, NEW.breached_at,
                      NEW.paused_ms, NEW.escalates_to_tier))
  EXECUTE FUNCTION stream_milestone_changed();

-- SLA events join the stream when they are written (with the state change that caused them), not
-- when the relay publishes them: a dashboard should not depend on Kafka being up.
CREATE FUNCTION stream_sla_event() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  sev text := NEW.payload #>> '{data,severity}';
  st  text := NEW.payload #>> '{data,site}';
  isev text;
  ist  text;
BEGIN
  -- The pager fields normally carry both; fall back to the incident row.
  IF sev IS NULL OR st IS NULL THEN
    SELECT i.severity, i.site INTO isev, ist FROM incidents i WHERE i.incident_id = NEW.message_key;
    sev := coalesce(sev, isev);
    st := coalesce(st, ist);
  END IF;
  INSERT INTO stream_events (kind, incident_id, severity, site, payload)
  VALUES ('sla', NEW.message_key, sev, st, NEW.payload);
  PERFORM pg_notify('sla_stream', '');
  RETURN NULL;
END $$;

CREATE TRIGGER outbox_stream_insert AFTER INSERT ON outbox
  FOR EACH ROW EXECUTE FUNCTION stream_sla_event();
