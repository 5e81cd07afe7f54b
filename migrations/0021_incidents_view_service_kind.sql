-- Dashboards could not tell installation work from after-sales incidents (seed §4.5.3.6 counts
-- them apart: installation and commissioning is its own row of the monthly statistics) without
-- joining the incidents table: v_incidents gains `service_kind` (0012's column, `after_sales`
-- or `installation`), as its last column (CREATE OR REPLACE VIEW can only add columns at the
-- end). The rest of the view is 0008's, unchanged.
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
  i.reopened_at,
  i.service_kind
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
