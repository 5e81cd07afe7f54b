-- The live feed (issue 8) streamed an automatic escalation's incident twice. The firing write
-- (src/scheduler/fire.ts WRITE_SQL) inserts the escalation and raises incidents.tier in one
-- statement, and both tables' statement triggers streamed a snapshot of the incident (0007): the
-- same row twice in stream_events, in the firing transaction, for every escalation.
--
-- An escalation now streams only the incidents whose row does not show its tier yet (a manual
-- escalation written before the projector's incident update, or an incident whose row never
-- carries it): where the row shows it, an incidents update of the same statement or an earlier
-- one streamed that tier already. AFTER STATEMENT triggers of a query run at its end, after all its
-- data-modifying CTEs: this one sees the raised tier. Pinned by test/integration/
-- scheduler-firing.test.ts (one snapshot with the new tier).
CREATE OR REPLACE FUNCTION stream_escalations_added() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  ids text[] := ARRAY(
    SELECT DISTINCT n.incident_id FROM new_rows n JOIN incidents i USING (incident_id)
    WHERE i.tier < n.to_tier);
BEGIN
  IF cardinality(ids) > 0 THEN
    PERFORM stream_incident_snapshots(ids);
  END IF;
  RETURN NULL;
END $$;
