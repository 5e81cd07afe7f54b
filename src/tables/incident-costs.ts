/**
 * Table `incident_costs` (migration 0012): the effort and cost lines of lifecycle events
 * (src/domain/costs.ts costLinesOf), one per event and kind, as the events said them. Written by
 * the projector with the timeline (insert-only); read by the monthly report (§4.5.3.6 statistics).
 */
import type { CostKind, CostLine, ServiceKind } from '../domain';
import { iso, type Statement } from './sql';

export interface CostRow {
  incidentId: string;
  source: string;
  eventId: string;
  kind: CostKind;
  /** The event's own `time`: the month the line counts in. */
  time: number;
  persons: number;
  personDays: number;
  amount: number | null;
  currency: string | null;
}

/** The row of a line an event carries. */
export function costRow(
  e: { incidentId: string; source: string; eventId: string; time: number },
  line: CostLine,
): CostRow {
  return {
    ...e,
    kind: line.kind,
    persons: line.persons,
    personDays: line.personDays,
    amount: line.cost?.amount ?? null,
    currency: line.cost?.currency ?? null,
  };
}

export function costsInsert(rows: CostRow[]): Statement {
  return {
    text: `INSERT INTO incident_costs
         (incident_id, source, event_id, kind, time, persons, person_days, amount, currency)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                            $6::int[], $7::int[], $8::bigint[], $9::text[])
       ON CONFLICT DO NOTHING`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.kind),
      rows.map((r) => iso(r.time)),
      rows.map((r) => r.persons),
      rows.map((r) => r.personDays),
      rows.map((r) => r.amount),
      rows.map((r) => r.currency),
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The monthly report

/** A line of the month with what the report groups and classifies it by. */
export interface MonthLineRecord {
  kind: CostKind;
  persons: number;
  person_days: number;
  /** bigint, as text */
  amount: string | null;
  currency: string | null;
  service_kind: ServiceKind | null;
  customer: string | null;
  site: string | null;
}

/** The lines whose event time is in [$1, $2), with their incident's service kind, customer, site. */
export const MONTH_LINES = `SELECT c.kind, c.persons, c.person_days, c.amount, c.currency,
    i.service_kind, i.customer, i.site
  FROM incident_costs c LEFT JOIN incidents i ON i.incident_id = c.incident_id
  WHERE c.time >= $1 AND c.time < $2`;

/** People sent in [$1, $2): the persons of the dispatch lines. */
export const PERSONS_SENT = `(SELECT coalesce(sum(persons), 0)::int FROM incident_costs
  WHERE time >= $1 AND time < $2)`;
