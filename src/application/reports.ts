/**
 * The monthly service report (§4.5.3.6 of the seed: monthly statistics of incidents, response
 * compliance, escalations and field visits). A month is [first day 00:00, next first day 00:00)
 * in the requested IANA zone, so a Shanghai month starts at 16:00 UTC of the previous day.
 *
 * What counts where:
 * - milestone statistics cover the milestones (all cycles) of incidents *reported* in the month,
 *   as they stand at generation time; cancelled incidents (duplicates, false alarms) are left out,
 *   and so are milestones whose clock never started or has not started yet (SPEC §2: spare_parts
 *   of an incident solved within 24 h);
 * - inspections (§4.5.8.4) cover the inspections *due* in the month, as they stand at generation
 *   time, overall and per site (application/inspections.ts);
 * - escalations, dispatches, arrivals and reopens count what *happened* in the month
 *   (escalated_at, event time); `reopened` counts incidents with a reopen that took effect in the
 *   month (SPEC §3: only from resolved or closed; cancelled is final).
 */
import { DateTime } from 'luxon';
import { SEVERITIES, type MilestoneStats, type MonthlyReport } from '../contracts/read';
import type { Pool } from '../infra/db';
import { milestoneSql } from '../tables/milestones';
import { inspectionReport } from './inspections';

// "Breached" and "clock started" as everywhere else (./milestone-state.ts); $3 is the generation time.
const { breached: BREACHED, clockStarted: CLOCK_STARTED } = milestoneSql('$3');

const MILESTONE_ORDER = `array_position(
  ARRAY['response', 'dispatch', 'arrival', 'diagnosis', 'solution', 'spare_parts'], milestone)`;

/** [from, to) of `month` (YYYY-MM) in `zone`. */
export function monthRange(month: string, zone: string): { from: Date; to: Date } {
  const [year, mon] = month.split('-').map(Number) as [number, number];
  const start = DateTime.fromObject({ year, month: mon, day: 1 }, { zone });
  if (!start.isValid) throw new RangeError(`invalid month ${month} in zone ${zone}`);
  return { from: start.toJSDate(), to: start.plus({ months: 1 }).toJSDate() };
}

export async function monthlyReport(
  pool: Pool,
  month: string,
  zone: string,
  now: number,
): Promise<MonthlyReport> {
  const { from, to } = monthRange(month, zone);
  const range = [from, to];
  const [milestones, incidents, escalations, field, inspections] = await Promise.all([
    pool.query<{
      all_severities: boolean;
      severity: MilestoneStats['severity'];
      milestone: string;
      count: number;
      met: number;
      breached: number;
      open: number;
      na: number;
      median: number | null;
      p90: number | null;
    }>(
      `WITH ms AS (
         SELECT i.severity, m.milestone,
                CASE WHEN m.state = 'met' THEN 'met'
                     WHEN ${BREACHED} THEN 'breached'
                     WHEN m.state = 'not_applicable' THEN 'na'
                     ELSE 'open' END AS outcome,
                CASE WHEN m.state IN ('met', 'met_late')
                     THEN extract(epoch FROM m.met_at - m.start_at) END AS seconds
         FROM incidents i JOIN milestones m ON m.incident_id = i.incident_id
         WHERE i.reported_at >= $1 AND i.reported_at < $2 AND i.status <> 'cancelled'
           AND ${CLOCK_STARTED}
       )
       SELECT GROUPING(severity) = 1 AS all_severities, coalesce(severity, 'all') AS severity,
              milestone, count(*)::int AS count,
              count(*) FILTER (WHERE outcome = 'met')::int AS met,
              count(*) FILTER (WHERE outcome = 'breached')::int AS breached,
              count(*) FILTER (WHERE outcome = 'open')::int AS open,
              count(*) FILTER (WHERE outcome = 'na')::int AS na,
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds))::int AS median,
              round(percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds))::int AS p90
       FROM ms
       GROUP BY GROUPING SETS ((severity, milestone), (milestone))
       ORDER BY all_severities, severity, ${MILESTONE_ORDER} NULLS LAST, milestone`,
      [...range, new Date(now)],
    ),
    pool.query<{
      severity: string | null;
      reported: number;
      cancelled: number;
      reopened: number;
    }>(
      `SELECT severity,
              count(*) FILTER (WHERE status <> 'cancelled' AND reported_at >= $1)::int AS reported,
              count(*) FILTER (WHERE status = 'cancelled' AND reported_at >= $1)::int AS cancelled,
              count(*) FILTER (WHERE EXISTS (
                SELECT 1 FROM unnest(reopened_at) r WHERE r >= $1 AND r < $2))::int AS reopened
       FROM incidents
       WHERE reported_at < $2 AND (reported_at >= $1 OR reopen_count > 0)
       GROUP BY severity`,
      range,
    ),
    pool.query<{ tier: number; total: number; automatic: number }>(
      `SELECT to_tier AS tier, count(*)::int AS total, count(*) FILTER (WHERE automatic)::int AS automatic
       FROM escalations WHERE escalated_at >= $1 AND escalated_at < $2
       GROUP BY to_tier ORDER BY to_tier`,
      range,
    ),
    // A dispatch naming no engineers still sent someone: it counts as one person.
    pool.query<{ dispatches: number; engineers: number; arrivals: number }>(
      `SELECT count(*) FILTER (WHERE type = 'incident.dispatched')::int AS dispatches,
              coalesce(sum(greatest(1, CASE WHEN jsonb_typeof(data->'engineers') = 'array'
                                            THEN jsonb_array_length(data->'engineers') ELSE 0 END))
                       FILTER (WHERE type = 'incident.dispatched'), 0)::int AS engineers,
              count(*) FILTER (WHERE type = 'incident.arrived')::int AS arrivals
       FROM incident_events
       WHERE type IN ('incident.dispatched', 'incident.arrived')
         AND time >= $1 AND time < $2`,
      range,
    ),
    inspectionReport(pool, from, to, now),
  ]);

  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<
    (typeof SEVERITIES)[number],
    number
  >;
  let cancelled = 0;
  let reopened = 0;
  for (const r of incidents.rows) {
    reopened += r.reopened;
    if (r.severity !== null && r.severity in bySeverity) {
      bySeverity[r.severity as keyof typeof bySeverity] += r.reported;
    }
    cancelled += r.cancelled;
  }
  const f = field.rows[0];
  return {
    month,
    timeZone: zone,
    from: from.toISOString(),
    to: to.toISOString(),
    generatedAt: new Date(now).toISOString(),
    incidents: {
      reported: Object.values(bySeverity).reduce((a, b) => a + b, 0),
      bySeverity,
      cancelled,
      reopened,
    },
    milestones: milestones.rows.map((r) => ({
      severity: r.all_severities ? 'all' : r.severity,
      milestone: r.milestone,
      count: r.count,
      metOnTime: r.met,
      breached: r.breached,
      open: r.open,
      notApplicable: r.na,
      compliancePct:
        r.met + r.breached === 0 ? null : Math.round((1000 * r.met) / (r.met + r.breached)) / 10,
      medianSeconds: r.median,
      p90Seconds: r.p90,
    })),
    escalations: escalations.rows.map((r) => ({
      tier: r.tier,
      total: r.total,
      automatic: r.automatic,
      manual: r.total - r.automatic,
    })),
    field: {
      dispatches: f?.dispatches ?? 0,
      dispatchedEngineers: f?.engineers ?? 0,
      onSiteVisits: f?.arrivals ?? 0,
    },
    inspections,
  };
}

const CSV_COLUMNS = [
  'section',
  'severity',
  'milestone',
  'tier',
  'count',
  'met_on_time',
  'breached',
  'open',
  'not_applicable',
  'compliance_pct',
  'median_seconds',
  'p90_seconds',
] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null>>;

/**
 * The report as one rectangular CSV table (RFC 4180, CRLF), so it opens as a single sheet: the
 * `section` column says what a row is; cells that do not apply to a section are empty.
 */
export function reportToCsv(r: MonthlyReport): string {
  const rows: CsvRow[] = [
    ...r.milestones.map((m): CsvRow => ({
      section: 'milestone',
      severity: m.severity,
      milestone: m.milestone,
      count: m.count,
      met_on_time: m.metOnTime,
      breached: m.breached,
      open: m.open,
      not_applicable: m.notApplicable,
      compliance_pct: m.compliancePct,
      median_seconds: m.medianSeconds,
      p90_seconds: m.p90Seconds,
    })),
    ...r.escalations.map((e): CsvRow => ({ section: 'escalations', tier: e.tier, count: e.total })),
    ...r.escalations.map((e): CsvRow => ({
      section: 'escalations_automatic',
      tier: e.tier,
      count: e.automatic,
    })),
    ...Object.entries(r.incidents.bySeverity).map(([severity, n]): CsvRow => ({
      section: 'incidents_reported',
      severity,
      count: n,
    })),
    { section: 'incidents_cancelled', count: r.incidents.cancelled },
    { section: 'incidents_reopened', count: r.incidents.reopened },
    { section: 'dispatches', count: r.field.dispatches },
    { section: 'dispatched_engineers', count: r.field.dispatchedEngineers },
    { section: 'on_site_visits', count: r.field.onSiteVisits },
    {
      section: 'inspections',
      count: r.inspections.due,
      met_on_time: r.inspections.metOnTime,
      breached: r.inspections.breached,
      open: r.inspections.open,
      compliance_pct: r.inspections.compliancePct,
    },
  ];
  const lines = [
    CSV_COLUMNS.join(','),
    ...rows.map((row) => CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')),
  ];
  return `${lines.join('\r\n')}\r\n`;
}

function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
