-- One rule, one place (issue 13): the SQL twin of src/domain/milestone-state.ts `onAtRiskList`,
-- which GET /v1/sla/at-risk filters on (src/application/queries.ts). Before, the list filtered on
-- the stored state: with includeBreached it missed a milestone the projector had stored as
-- breached while still running (an event after its deadline), and it listed clocks that had not
-- started. test/integration/milestone-rules.test.ts runs every case of the domain's table through
-- the read API's query and compares with the TypeScript rule.

-- Listed at `at`: open (sla_milestone_is_open: clock started, unmet, not settled), a deadline by
-- `until`, pending or warned at `at`; breached (and still running) only with include_breached.
-- A paused clock is not at risk.
CREATE FUNCTION sla_milestone_at_risk(
  stored_state text, start_at timestamptz, due_at timestamptz, warn_at timestamptz[],
  stopped_at timestamptz, at timestamptz, until timestamptz, include_breached boolean
) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT coalesce(due_at <= until
      AND sla_milestone_is_open(stored_state, start_at, stopped_at, at)
      AND (sla_milestone_state_at(stored_state, due_at, warn_at, at) IN ('pending', 'warned')
           OR (include_breached
               AND sla_milestone_state_at(stored_state, due_at, warn_at, at) = 'breached')), false)
  $$;

-- The rows the function can list, by deadline: running (not stopped) pending, warned or breached.
-- milestones_open_due_idx (0001) covers pending and warned only; a breached running row was
-- outside it.
CREATE INDEX milestones_running_due_idx ON milestones (due_at)
  WHERE stopped_at IS NULL AND state IN ('pending', 'warned', 'breached');
