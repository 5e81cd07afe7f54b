-- Effort and costs for the monthly statistics of seed §4.5.3.6 (issue 15 items 1–2). Both are
-- projector-owned: a rebuild from incident.events gives them again (src/projector/rebuild.ts).

-- incident.reported `serviceKind`: installation work is counted apart (src/domain/costs.ts).
ALTER TABLE incidents ADD COLUMN service_kind text NOT NULL DEFAULT 'after_sales'
  CHECK (service_kind IN ('after_sales', 'installation'));

-- One row per line of effort or cost a lifecycle event carries, at most one per kind
-- (src/domain/costs.ts costLinesOf): a dispatch (people sent, person-days, travel cost), an
-- arrival's travel cost, the material and shipping cost of spare parts, an incident.cost_recorded.
-- Stored as the event says; which §4.5.3.6 row a line counts in depends on the incident's service
-- kind and is decided when the report reads it, so a report arriving after the costs changes
-- nothing here. Insert-only, like incident_events.
CREATE TABLE incident_costs (
  incident_id  text        NOT NULL,
  source       text        NOT NULL,
  event_id     text        NOT NULL,
  kind         text        NOT NULL
    CHECK (kind IN ('installation', 'dispatch', 'material', 'transport', 'other')),
  -- the event's own `time`: the month it counts in
  time         timestamptz NOT NULL,
  persons      integer     NOT NULL DEFAULT 0 CHECK (persons >= 0),
  person_days  integer     NOT NULL DEFAULT 0 CHECK (person_days >= 0),
  -- integer minor units of an ISO 4217 currency; both null for effort without a cost
  amount       bigint,
  currency     char(3),
  CHECK ((amount IS NULL) = (currency IS NULL)),
  PRIMARY KEY (incident_id, source, event_id, kind)
);
-- The monthly report reads one month of lines.
CREATE INDEX incident_costs_time_idx ON incident_costs (time);

-- Dispatches projected before this migration: their people, as the monthly report counted them
-- (a dispatch naming nobody still sent one person). Older events cannot carry costs or days.
INSERT INTO incident_costs (incident_id, source, event_id, kind, time, persons, person_days)
SELECT incident_id, source, event_id, 'dispatch', time, n, n
FROM (SELECT incident_id, source, event_id, time,
             greatest(1, CASE WHEN jsonb_typeof(data->'engineers') = 'array'
                              THEN jsonb_array_length(data->'engineers') ELSE 0 END) AS n
      FROM incident_events WHERE type = 'incident.dispatched') d
ON CONFLICT DO NOTHING;
