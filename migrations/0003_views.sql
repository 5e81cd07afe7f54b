-- Dashboard views (issue 6): the documented, stable interface for Grafana/Metabase users who query
-- Postgres directly. Every column is described in README.md (Dashboard views). These are an interface: never
-- edit this file once applied; change a view with a new migration (CREATE OR REPLACE VIEW may only
-- add columns at the end; renaming or dropping one is a breaking change).
--
-- Time-dependent states are derived here, at query time: the projector stores each milestone as of
-- its incident's latest event (so a replay gives identical rows), and `now()` turns a stored
-- `pending` into `warned` or `breached` as the clock passes the warning and due times.

-- The state of a milestone at instant `at`, from what the projector stored. Open states (pending,
-- warned, breached of an open incident) advance with time; every other state is final until the
-- next event. Paused milestones have no due time, so they stay paused.
CREATE FUNCTION sla_milestone_state_at(
  stored_state text, due_at timestamptz, warn_at timestamptz[], incident_status text,
  at timestamptz
) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE
      WHEN incident_status IS DISTINCT FROM 'open'
        OR stored_state NOT IN ('pending', 'warned', 'breached') THEN stored_state
      WHEN due_at IS NOT NULL AND due_at <= at THEN 'breached'
      WHEN stored_state = 'warned'
        OR EXISTS (SELECT 1 FROM unnest(warn_at) AS w WHERE w <= at) THEN 'warned'
      ELSE 'pending'
    END
  $$;

-- One row per milestone and cycle, with its state now.
CREATE VIEW v_milestones AS
SELECT
  m.incident_id,
  m.milestone,
  m.cycle,
  sla_milestone_state_at(m.state, m.due_at, m.warn_at, i.status, now()) AS state,
  m.state AS projected_state,
  (i.status = 'open' AND m.state IN ('pending', 'warned', 'breached', 'paused')) AS is_open,
  m.start_at,
  (m.start_at IS NULL OR m.start_at <= now()) AS clock_started,
  m.due_at,
  m.warn_at,
  (SELECT min(w) FROM unnest(m.warn_at) AS w) AS first_warn_at,
  m.met_at,
  CASE
    WHEN m.breached_at IS NOT NULL THEN m.breached_at
    WHEN i.status = 'open' AND m.state IN ('pending', 'warned', 'breached')
      AND m.due_at <= now() THEN m.due_at
  END AS breached_at,
  CASE
    WHEN i.status = 'open' AND m.state IN ('pending', 'warned', 'breached')
      AND m.due_at IS NOT NULL
    THEN floor(extract(epoch FROM m.due_at - now()))::bigint
  END AS remaining_seconds,
  m.paused_ms,
  m.escalates_to_tier,
  i.status AS incident_status,
  i.severity,
  i.site,
  i.title,
  i.assignee,
  m.updated_at
FROM milestones m
JOIN incidents i ON i.incident_id = m.incident_id;

-- One row per incident, with its effective tier and SLA flags now.
CREATE VIEW v_incidents AS
SELECT
  i.incident_id,
  i.status,
  i.severity,
  i.title,
  i.category,
  i.customer,
  i.site,
  i.reporter,
  i.assignee,
  i.tier,
  esc.max_tier AS escalated_tier,
  greatest(i.tier, coalesce(esc.max_tier, 1))::smallint AS effective_tier,
  i.policy_id,
  i.policy_version,
  i.reported_at,
  i.resolved_at,
  i.closed_at,
  i.cancelled_at,
  i.reopen_count,
  i.event_count,
  i.last_event_at,
  coalesce(ms.open_milestones, 0)::int AS open_milestones,
  coalesce(ms.breached_milestones, 0)::int AS breached_milestones,
  coalesce(ms.breached_milestones, 0) > 0 AS is_breached,
  coalesce(ms.warned_milestones, 0) > 0 AS is_at_risk,
  ms.next_due_at,
  i.updated_at
FROM incidents i
LEFT JOIN LATERAL (
  SELECT max(e.to_tier) AS max_tier FROM escalations e WHERE e.incident_id = i.incident_id
) esc ON true
LEFT JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE s.open) AS open_milestones,
    count(*) FILTER (WHERE s.state IN ('breached', 'met_late')) AS breached_milestones,
    count(*) FILTER (WHERE s.open AND s.state = 'warned') AS warned_milestones,
    min(s.due_at) FILTER (WHERE s.open AND s.state IN ('pending', 'warned')) AS next_due_at
  FROM (
    SELECT
      sla_milestone_state_at(m.state, m.due_at, m.warn_at, i.status, now()) AS state,
      (i.status = 'open' AND m.state IN ('pending', 'warned', 'breached', 'paused')) AS open,
      m.due_at
    FROM milestones m
    WHERE m.incident_id = i.incident_id
  ) s
) ms ON true;

-- One row per milestone cycle that breached: missed and still open, settled unmet after its
-- deadline, or met late. A breach a late event proved wrong (retracted) is met, so not here.
CREATE VIEW v_breaches AS
SELECT
  m.incident_id,
  m.milestone,
  m.cycle,
  m.state,
  m.is_open,
  m.due_at,
  m.breached_at,
  f.fired_at AS detected_at,
  f.event_id AS breach_event_id,
  m.met_at,
  CASE
    WHEN m.met_at IS NOT NULL THEN floor(extract(epoch FROM m.met_at - m.due_at))::bigint
    WHEN m.is_open THEN floor(extract(epoch FROM now() - m.due_at))::bigint
  END AS overdue_seconds,
  m.escalates_to_tier,
  m.incident_status,
  m.severity,
  m.site,
  m.title,
  m.assignee
FROM v_milestones m
LEFT JOIN LATERAL (
  SELECT tf.fired_at, tf.event_id FROM timer_fires tf
  WHERE tf.incident_id = m.incident_id AND tf.milestone = m.milestone AND tf.cycle = m.cycle
    AND tf.kind = 'breach' AND tf.event_id IS NOT NULL
  ORDER BY tf.fired_at
  LIMIT 1
) f ON true
WHERE m.state IN ('breached', 'met_late');

-- One row per tier an incident reached, automatic (after a breach) or manual (incident.escalated).
CREATE VIEW v_escalations AS
SELECT
  e.incident_id,
  e.from_tier,
  e.to_tier,
  e.automatic,
  e.reason,
  e.milestone,
  e.event_id,
  e.escalated_at,
  i.status AS incident_status,
  i.severity,
  i.site,
  i.title,
  i.assignee
FROM escalations e
LEFT JOIN incidents i ON i.incident_id = e.incident_id;
