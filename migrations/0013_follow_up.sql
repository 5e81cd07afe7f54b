-- Follow-ups as a milestone (issue 15 item 4, SPEC §2 `follow_up`, seed §4.5.7.6 回访): a
-- milestone whose clock starts at the resolution is stored while the incident is still open with
-- no start (start_at NULL) and no deadline. Until now a NULL start_at meant "started"; it now
-- means "waiting for its start event": not started, so neither open nor counted in reports.
-- The TypeScript twin is src/domain/milestone-state.ts `milestoneAt` (clockStarted);
-- test/integration/milestone-rules.test.ts runs the shared table of cases through both.
-- Every row the projector wrote before this migration has a start_at (the report, reopen or
-- spare_parts start), so no stored row changes meaning.

CREATE OR REPLACE FUNCTION sla_milestone_clock_started(
  stored_state text, start_at timestamptz, stopped_at timestamptz, at timestamptz
) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT coalesce(start_at <= at, false)
      AND (stored_state <> 'not_applicable' OR stopped_at IS NOT NULL)
  $$;
