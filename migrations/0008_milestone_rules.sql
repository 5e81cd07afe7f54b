-- One rule, one place (issue 13): the SQL twin of src/domain/milestone-state.ts `milestoneAt`,
-- the columns that let SQL read what the domain computed instead of re-deriving it, and the
-- dashboard views rebuilt on them. test/integration/milestone-rules.test.ts runs every case of
-- the domain's table (test/unit/domain/milestone-cases.ts) through these functions and checks the
-- views against them.
--
-- SPEC §2 "Overdue freezes": a breached milestone stops ageing when it settles and while its
-- clock is paused; a reopen never revives an earlier cycle. SPEC §3 "Effective time". Reports
-- count only reopens that took effect and only milestones whose clock started.

-- ---------------------------------------------------------------------------------------------
-- What the projector now stores (src/domain/evaluate.ts MilestoneView).

-- When the milestone's clock stopped ageing: met (met_at), settled (the settling event; for an
-- earlier cycle, the resolution before its reopen), paused (the pause start). NULL while it runs
-- and for a clock that never started.
ALTER TABLE milestones ADD COLUMN stopped_at timestamptz;
-- Wall ms the clock was paused after its deadline had passed (not overdue time).
ALTER TABLE milestones ADD COLUMN overdue_paused_ms bigint NOT NULL DEFAULT 0;
-- When each incident.reopened that took effect happened (from resolved or closed only).
ALTER TABLE incidents ADD COLUMN reopened_at timestamptz[] NOT NULL DEFAULT '{}';
-- When the service accepted the event (the ingest's `sla-accepted-at` Kafka header; for records
-- without it, the Kafka record timestamp). The SLA uses least(time, accepted_at) (SPEC §3).
ALTER TABLE incident_events ADD COLUMN accepted_at timestamptz;

-- Rows projected before this migration: the best the stored rows allow. `npm run rebuild`
-- recomputes them exactly from the event log.
UPDATE incident_events SET accepted_at = time;
UPDATE milestones SET stopped_at = met_at WHERE met_at IS NOT NULL;
UPDATE milestones m SET stopped_at = n.start_at
FROM milestones n
WHERE n.incident_id = m.incident_id AND n.milestone = m.milestone AND n.cycle = m.cycle + 1
  AND m.stopped_at IS NULL AND m.due_at IS NOT NULL AND m.state IN ('breached', 'not_applicable');
UPDATE milestones m SET stopped_at = least(i.resolved_at, i.closed_at, i.cancelled_at)
FROM incidents i
WHERE i.incident_id = m.incident_id AND i.status IN ('resolved', 'closed', 'cancelled')
  AND m.stopped_at IS NULL AND m.due_at IS NOT NULL AND m.state IN ('breached', 'not_applicable');
-- The latest `reopen_count` reopens (those before them cannot all have taken effect).
UPDATE incidents i SET reopened_at = coalesce((
  SELECT array_agg(e.time ORDER BY e.time) FROM (
    SELECT time, row_number() OVER (ORDER BY time DESC) AS n FROM incident_events
    WHERE incident_id = i.incident_id AND type = 'incident.reopened') e
  WHERE e.n <= i.reopen_count), '{}')
WHERE i.reopen_count > 0;

-- ---------------------------------------------------------------------------------------------
-- The rule (each function is one line of milestoneAt; instants in epoch ms as numeric, so the
-- microseconds of now() are not rounded away).

CREATE FUNCTION sla_ms(t timestamptz) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT extract(epoch FROM t) * 1000 $$;

-- The state at `at`: met, met_late, not_applicable, paused and breached are as stored; pending and
-- warned become breached at the deadline (due_at <= at), warned at a warning instant.
CREATE FUNCTION sla_milestone_state_at(
  stored_state text, due_at timestamptz, warn_at timestamptz[], at timestamptz
) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE
      WHEN stored_state NOT IN ('pending', 'warned') THEN stored_state
      WHEN due_at <= at THEN 'breached'
      WHEN stored_state = 'warned'
        OR EXISTS (SELECT 1 FROM unnest(warn_at) AS w WHERE w <= at) THEN 'warned'
      ELSE 'pending'
    END
  $$;

-- Breached at `at`: breached or met late, or paused after its deadline (the breach stands).
CREATE FUNCTION sla_milestone_is_breached(
  stored_state text, due_at timestamptz, breached_at timestamptz, at timestamptz
) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT coalesce(stored_state IN ('breached', 'met_late')
      OR (stored_state IN ('pending', 'warned') AND due_at <= at)
      OR (stored_state = 'paused' AND breached_at IS NOT NULL), false)
  $$;

-- Ms to the deadline (negative once overdue) of an unmet milestone with a deadline, frozen at
-- stopped_at, not counting pauses after the deadline; else NULL.
CREATE FUNCTION sla_milestone_remaining_ms(
  stored_state text, due_at timestamptz, stopped_at timestamptz, overdue_paused_ms bigint,
  at timestamptz
) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE
      WHEN stored_state IN ('pending', 'warned', 'breached', 'paused') AND due_at IS NOT NULL
      THEN sla_ms(due_at) + overdue_paused_ms - sla_ms(least(at, coalesce(stopped_at, at)))
    END
  $$;

-- Ms past the deadline of a breached milestone (frozen at stopped_at); else NULL.
CREATE FUNCTION sla_milestone_overdue_ms(
  stored_state text, due_at timestamptz, breached_at timestamptz, stopped_at timestamptz,
  overdue_paused_ms bigint, at timestamptz
) RETURNS numeric
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE
      WHEN sla_milestone_is_breached(stored_state, due_at, breached_at, at) AND due_at IS NOT NULL
      THEN sla_ms(least(at, coalesce(stopped_at, at))) - sla_ms(due_at) - overdue_paused_ms
    END
  $$;

-- The clock has started by `at` (and did not "never start"): only these count in reports.
CREATE FUNCTION sla_milestone_clock_started(
  stored_state text, start_at timestamptz, stopped_at timestamptz, at timestamptz
) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT (start_at IS NULL OR start_at <= at)
      AND (stored_state <> 'not_applicable' OR stopped_at IS NOT NULL)
  $$;

-- Open at `at`: clock started, unmet, not settled (pending, warned, breached and running, paused).
CREATE FUNCTION sla_milestone_is_open(
  stored_state text, start_at timestamptz, stopped_at timestamptz, at timestamptz
) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT sla_milestone_clock_started(stored_state, start_at, stopped_at, at)
      AND (stored_state IN ('pending', 'warned', 'paused')
           OR (stored_state = 'breached' AND stopped_at IS NULL))
  $$;

-- ---------------------------------------------------------------------------------------------
-- The views, on the functions (columns kept, new ones at the end).

CREATE OR REPLACE VIEW v_milestones AS
SELECT
  m.incident_id,
  m.milestone,
  m.cycle,
  sla_milestone_state_at(m.state, m.due_at, m.warn_at, now()) AS state,
  m.state AS projected_state,
  sla_milestone_is_open(m.state, m.start_at, m.stopped_at, now()) AS is_open,
  m.start_at,
  sla_milestone_clock_started(m.state, m.start_at, m.stopped_at, now()) AS clock_started,
  m.due_at,
  m.warn_at,
  (SELECT min(w) FROM unnest(m.warn_at) AS w) AS first_warn_at,
  m.met_at,
  CASE WHEN sla_milestone_is_breached(m.state, m.due_at, m.breached_at, now())
    THEN coalesce(m.breached_at, m.due_at) END AS breached_at,
  floor(sla_milestone_remaining_ms(m.state, m.due_at, m.stopped_at, m.overdue_paused_ms, now())
        / 1000)::bigint AS remaining_seconds,
  m.paused_ms,
  m.escalates_to_tier,
  i.status AS incident_status,
  i.severity,
  i.site,
  i.title,
  i.assignee,
  m.updated_at,
  m.stopped_at,
  floor(sla_milestone_overdue_ms(m.state, m.due_at, m.breached_at, m.stopped_at,
                                 m.overdue_paused_ms, now()) / 1000)::bigint AS overdue_seconds,
  m.overdue_paused_ms
FROM milestones m
JOIN incidents i ON i.incident_id = m.incident_id;

CREATE OR REPLACE VIEW v_incidents AS
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
  i.updated_at,
  i.reopened_at
FROM incidents i
LEFT JOIN LATERAL (
  SELECT max(e.to_tier) AS max_tier FROM escalations e WHERE e.incident_id = i.incident_id
) esc ON true
LEFT JOIN LATERAL (
  SELECT
    count(*) FILTER (WHERE s.open) AS open_milestones,
    count(*) FILTER (WHERE s.breached) AS breached_milestones,
    count(*) FILTER (WHERE s.state = 'warned') AS warned_milestones,
    min(s.due_at) FILTER (WHERE s.state IN ('pending', 'warned')) AS next_due_at
  FROM (
    SELECT
      sla_milestone_state_at(m.state, m.due_at, m.warn_at, now()) AS state,
      sla_milestone_is_open(m.state, m.start_at, m.stopped_at, now()) AS open,
      sla_milestone_is_breached(m.state, m.due_at, m.breached_at, now()) AS breached,
      m.due_at
    FROM milestones m
    WHERE m.incident_id = i.incident_id
  ) s
) ms ON true;

CREATE OR REPLACE VIEW v_breaches AS
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
  m.overdue_seconds,
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
WHERE m.breached_at IS NOT NULL;

-- The earlier rule (it read the incident status, so a reopen revived settled cycles) is gone.
DROP FUNCTION sla_milestone_state_at(text, timestamptz, timestamptz[], text, timestamptz);

-- ---------------------------------------------------------------------------------------------
-- The live stream's milestone snapshots carry the new columns (src/http/stream.ts renders them
-- with the same milestoneAt), and a change of them alone is a visible change.

CREATE OR REPLACE FUNCTION stream_milestone_snapshots(ids text[], names text[], cycles int[])
  RETURNS void
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
    'escalatesToTier', m.escalates_to_tier,
    'stoppedAt', stream_ms(m.stopped_at),
    'overduePausedMs', m.overdue_paused_ms)
  FROM unnest(ids, names, cycles) AS k(incident_id, milestone, cycle)
  JOIN milestones m USING (incident_id, milestone, cycle)
  LEFT JOIN incidents i ON i.incident_id = m.incident_id
  ORDER BY m.incident_id, m.cycle, m.milestone;
  SELECT pg_notify('sla_stream', '');
$$;

CREATE OR REPLACE FUNCTION stream_milestones_updated() RETURNS trigger
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
         o.escalates_to_tier, o.stopped_at, o.overdue_paused_ms)
        IS DISTINCT FROM
        (n.state, n.start_at, n.due_at, n.warn_at, n.met_at, n.breached_at, n.paused_ms,
         n.escalates_to_tier, n.stopped_at, n.overdue_paused_ms);
  IF ids IS NOT NULL THEN
    PERFORM stream_milestone_snapshots(ids, names, cycles);
  END IF;
  RETURN NULL;
END $$;
