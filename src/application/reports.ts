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
 * - escalations, dispatches, arrivals and reopens count what *happened* in the month
 *   (escalated_at, event time); `reopened` counts incidents with a reopen that took effect in the
 *   month (SPEC §3: only from resolved or closed; cancelled is final);
 * - the §4.5.3.6 statistics (people sent, costs) count the effort and cost lines whose event time
 *   is in the month, whatever became of the incident; per customer and project they stand next to
 *   the incidents reported in the month and their compliance;
 * - follow-ups (./report-follow-ups.ts) count the faults handled in the month.
 * - inspections (§4.5.8.4) cover the inspections *due* in the month, as they stand at generation
 *   time, overall and per site (application/inspections.ts).
 */
import { DateTime } from 'luxon';
import {
  SEVERITIES,
  type CostStats,
  type MilestoneStats,
  type MonthlyReport,
} from '../contracts/read';
import { costStatistics, type ClassifiedLine } from '../domain';
import type { Pool } from '../infra/db';
import { MONTH_LINES, PERSONS_SENT, type MonthLineRecord } from '../tables/incident-costs';
import { milestoneSql } from '../tables/milestones';
import { followUpSection } from './report-follow-ups';
import { inspectionReport } from './inspections';

// "Breached" and "clock started" as everywhere else (./milestone-state.ts); $3 is the generation time.
const { breached: BREACHED, clockStarted: CLOCK_STARTED } = milestoneSql('$3');

/** A milestone row's outcome in the report: met (on time), breached (late or overdue), na, open. */
const OUTCOME = `CASE WHEN m.state = 'met' THEN 'met'
                      WHEN ${BREACHED} THEN 'breached'
                      WHEN m.state = 'not_applicable' THEN 'na'
                      ELSE 'open' END`;

const MILESTONE_ORDER = `array_position(
  ARRAY['response', 'dispatch', 'arrival', 'diagnosis', 'solution', 'spare_parts', 'follow_up'],
  milestone)`;

/** [from, to) of `month` (YYYY-MM) in `zone`. */
export function monthRange(month: string, zone: string): { from: Date; to: Date } {
  const [year, mon] = month.split('-').map(Number) as [number, number];
  const start = DateTime.fromObject({ year, month: mon, day: 1 }, { zone });
  if (!start.isValid) throw new RangeError(`invalid month ${month} in zone ${zone}`);
  return { from: start.toJSDate(), to: start.plus({ months: 1 }).toJSDate() };
}

/** The month a report covers, and when it is generated (epoch ms). */
export interface ReportPeriod {
  month: string;
  zone: string;
  from: Date;
  to: Date;
  /** Calendar days of the month (the divisor of "per day" figures). */
  days: number;
  now: number;
}

export function reportPeriod(month: string, zone: string, now: number): ReportPeriod {
  const { from, to } = monthRange(month, zone);
  const days = DateTime.fromJSDate(from, { zone }).daysInMonth!;
  return { month, zone, from, to, days, now };
}

/**
 * The report is a composition of sections, each a small function of (pool, period) that reads
 * what it needs; a new section is one more function here, one more key in the contract
 * (src/contracts/read.ts) and its rows in `reportToCsv`.
 */
export async function monthlyReport(
  pool: Pool,
  month: string,
  zone: string,
  now: number,
): Promise<MonthlyReport> {
  const period = reportPeriod(month, zone, now);
  const [incidents, milestones, escalations, field, statistics, followUps, inspections] =
    await Promise.all([
      incidentsSection(pool, period),
      milestonesSection(pool, period),
      escalationsSection(pool, period),
      fieldSection(pool, period),
      statisticsSection(pool, period),
      followUpSection(pool, period),
      inspectionsSection(pool, period),
    ]);
  return {
    month,
    timeZone: zone,
    from: period.from.toISOString(),
    to: period.to.toISOString(),
    generatedAt: new Date(now).toISOString(),
    incidents,
    milestones,
    escalations,
    field,
    statistics,
    followUps,
    inspections,
  };
}

type Section<K extends keyof MonthlyReport> = (
  pool: Pool,
  period: ReportPeriod,
) => Promise<MonthlyReport[K]>;

const range = (p: ReportPeriod) => [p.from, p.to];

/** §4.5.8.4 inspections due in the month, as they stand now, overall and per site (./inspections.ts). */
const inspectionsSection: Section<'inspections'> = (pool, p) =>
  inspectionReport(pool, p.from, p.to, p.now);

/** Incidents reported in the month per severity (cancelled apart), and reopens in the month. */
const incidentsSection: Section<'incidents'> = async (pool, period) => {
  const { rows } = await pool.query<{
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
    range(period),
  );
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<
    (typeof SEVERITIES)[number],
    number
  >;
  let cancelled = 0;
  let reopened = 0;
  for (const r of rows) {
    reopened += r.reopened;
    if (r.severity !== null && r.severity in bySeverity) {
      bySeverity[r.severity as keyof typeof bySeverity] += r.reported;
    }
    cancelled += r.cancelled;
  }
  return {
    reported: Object.values(bySeverity).reduce((a, b) => a + b, 0),
    bySeverity,
    cancelled,
    reopened,
  };
};

/** Per severity (and all) and milestone: outcomes and times to milestone. */
const milestonesSection: Section<'milestones'> = async (pool, period) => {
  const { rows } = await pool.query<{
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
              ${OUTCOME} AS outcome,
              -- met before its clock started (spare parts there before the 24 h): 0 s
              CASE WHEN m.state IN ('met', 'met_late')
                   THEN extract(epoch FROM greatest(m.met_at, m.start_at) - m.start_at)
              END AS seconds
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
    [...range(period), new Date(period.now)],
  );
  return rows.map((r) => ({
    severity: r.all_severities ? 'all' : r.severity,
    milestone: r.milestone,
    count: r.count,
    metOnTime: r.met,
    breached: r.breached,
    open: r.open,
    notApplicable: r.na,
    compliancePct: compliance(r.met, r.breached),
    medianSeconds: r.median,
    p90Seconds: r.p90,
  }));
};

/** metOnTime / (metOnTime + breached) × 100, one decimal; null when both are 0. */
export function compliance(met: number, breached: number): number | null {
  return met + breached === 0 ? null : Math.round((1000 * met) / (met + breached)) / 10;
}

/** Escalations that happened in the month, per tier reached. */
const escalationsSection: Section<'escalations'> = async (pool, period) => {
  const { rows } = await pool.query<{ tier: number; total: number; automatic: number }>(
    `SELECT to_tier AS tier, count(*)::int AS total, count(*) FILTER (WHERE automatic)::int AS automatic
     FROM escalations WHERE escalated_at >= $1 AND escalated_at < $2
     GROUP BY to_tier ORDER BY to_tier`,
    range(period),
  );
  return rows.map((r) => ({
    tier: r.tier,
    total: r.total,
    automatic: r.automatic,
    manual: r.total - r.automatic,
  }));
};

/**
 * Dispatches and arrivals in the month; the engineers sent are the people of the dispatch lines
 * (src/domain/costs.ts costLinesOf: `persons`, else the engineers named, else one).
 */
const fieldSection: Section<'field'> = async (pool, period) => {
  const { rows } = await pool.query<{ dispatches: number; engineers: number; arrivals: number }>(
    `SELECT count(*) FILTER (WHERE type = 'incident.dispatched')::int AS dispatches,
            count(*) FILTER (WHERE type = 'incident.arrived')::int AS arrivals,
            ${PERSONS_SENT} AS engineers
     FROM incident_events
     WHERE type IN ('incident.dispatched', 'incident.arrived') AND time >= $1 AND time < $2`,
    range(period),
  );
  const f = rows[0];
  return {
    dispatches: f?.dispatches ?? 0,
    dispatchedEngineers: f?.engineers ?? 0,
    onSiteVisits: f?.arrivals ?? 0,
  };
};

/**
 * Seed §4.5.3.6 monthly statistics: the effort and cost lines whose event time is in the month
 * (whatever the incident's status: money spent on a false alarm was spent), summed by
 * `costStatistics` overall, per customer and per project (customer and site); next to each
 * customer and project, its incidents reported in the month and their compliance.
 */
const statisticsSection: Section<'statistics'> = async (pool, period) => {
  const [lines, scopes] = await Promise.all([
    pool.query<MonthLineRecord>(MONTH_LINES, range(period)),
    pool.query<{
      whole_customer: boolean;
      customer: string | null;
      site: string | null;
      incidents: number;
      met: number;
      breached: number;
    }>(
      `SELECT GROUPING(i.site) = 1 AS whole_customer, i.customer, i.site,
              count(DISTINCT i.incident_id)::int AS incidents,
              count(*) FILTER (WHERE ${OUTCOME} = 'met')::int AS met,
              count(*) FILTER (WHERE ${OUTCOME} = 'breached')::int AS breached
       FROM incidents i
         LEFT JOIN milestones m ON m.incident_id = i.incident_id AND ${CLOCK_STARTED}
       WHERE i.reported_at >= $1 AND i.reported_at < $2 AND i.status <> 'cancelled'
       GROUP BY GROUPING SETS ((i.customer), (i.customer, i.site))`,
      [...range(period), new Date(period.now)],
    ),
  ]);
  const all: (ClassifiedLine & { customer: string | null; site: string | null })[] = lines.rows.map(
    (r) => ({
      kind: r.kind,
      persons: r.persons,
      personDays: r.person_days,
      cost: r.amount === null ? null : { amount: Number(r.amount), currency: r.currency! },
      serviceKind: r.service_kind,
      customer: r.customer,
      site: r.site,
    }),
  );

  // One pass: every line to its customer and its project; the counts from SQL beside them.
  const customers = new Map<string, Scope>();
  const projects = new Map<string, Scope>();
  for (const r of scopes.rows) {
    if (r.whole_customer) scopeIn(customers, r.customer, null).counts = r;
    else scopeIn(projects, r.customer, r.site).counts = r;
  }
  for (const l of all) {
    scopeIn(customers, l.customer, null).lines.push(l);
    scopeIn(projects, l.customer, l.site).lines.push(l);
  }
  const line = (s: Scope) => ({
    customer: s.customer,
    incidents: s.counts.incidents,
    metOnTime: s.counts.met,
    breached: s.counts.breached,
    compliancePct: compliance(s.counts.met, s.counts.breached),
    statistics: costStatistics(s.lines, period.days),
  });
  return {
    days: period.days,
    overall: costStatistics(all, period.days),
    byCustomer: sorted(customers).map(line),
    byProject: sorted(projects).map((s) => ({ ...line(s), site: s.site })),
  };
};

/** A customer (site null) or a project (customer and site) of the statistics. */
interface Scope {
  customer: string | null;
  site: string | null;
  counts: { incidents: number; met: number; breached: number };
  lines: ClassifiedLine[];
}

function scopeIn(scopes: Map<string, Scope>, customer: string | null, site: string | null): Scope {
  const key = JSON.stringify([customer, site]);
  let scope = scopes.get(key);
  if (!scope) {
    scope = { customer, site, counts: { incidents: 0, met: 0, breached: 0 }, lines: [] };
    scopes.set(key, scope);
  }
  return scope;
}

/** By customer, then site; unnamed ones last. */
function sorted(scopes: Map<string, Scope>): Scope[] {
  return [...scopes.values()].sort(
    (a, b) => compareNullsLast(a.customer, b.customer) || compareNullsLast(a.site, b.site),
  );
}

function compareNullsLast(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
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
  // the §4.5.3.6 statistics: which scope (overall, customer, project), per-day figures, money
  'scope',
  'customer',
  'site',
  'per_day',
  'currency',
  'amount_minor',
  // a figure that is not a count: the follow-up rate, the mean satisfaction
  'value',
] as const;
type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | null>>;

/**
 * The report as one rectangular CSV table (RFC 4180, CRLF), so it opens as a single sheet: the
 * `section` column says what a row is; cells that do not apply to a section are empty. Each
 * section of the report contributes its rows through a function of its own.
 */
export function reportToCsv(r: MonthlyReport): string {
  return csvTable(CSV_COLUMNS, reportRows(r));
}

/**
 * Several reports as one table (an issued report and the corrections it carries): a leading
 * `month` column says whose figures a row holds; the rest is `reportToCsv`'s table.
 */
export function reportsToCsv(reports: readonly MonthlyReport[]): string {
  return csvTable(
    ['month', ...CSV_COLUMNS],
    reports.flatMap((r) => reportRows(r).map((row) => ({ month: r.month, ...row }))),
  );
}

function reportRows(r: MonthlyReport): CsvRow[] {
  return [
    ...milestoneRows(r.milestones),
    ...escalationRows(r.escalations),
    ...incidentRows(r.incidents),
    ...fieldRows(r.field),
    ...statisticsRows(r.statistics),
    ...followUpRows(r.followUps),
    ...inspectionRows(r.inspections),
  ];
}

/** A CSV table (RFC 4180, CRLF): a header row of `columns`, then one row per record. */
export function csvTable<C extends string>(
  columns: readonly C[],
  rows: readonly Partial<Record<C, string | number | null>>[],
): string {
  const lines = [
    columns.join(','),
    ...rows.map((row) => columns.map((c) => csvCell(row[c])).join(',')),
  ];
  return `${lines.join('\r\n')}\r\n`;
}

function milestoneRows(milestones: MonthlyReport['milestones']): CsvRow[] {
  return milestones.map((m) => ({
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
  }));
}

function escalationRows(escalations: MonthlyReport['escalations']): CsvRow[] {
  return [
    ...escalations.map((e) => ({ section: 'escalations', tier: e.tier, count: e.total })),
    ...escalations.map((e) => ({
      section: 'escalations_automatic',
      tier: e.tier,
      count: e.automatic,
    })),
  ];
}

function incidentRows(incidents: MonthlyReport['incidents']): CsvRow[] {
  return [
    ...Object.entries(incidents.bySeverity).map(([severity, n]) => ({
      section: 'incidents_reported',
      severity,
      count: n,
    })),
    { section: 'incidents_cancelled', count: incidents.cancelled },
    { section: 'incidents_reopened', count: incidents.reopened },
  ];
}

/** `follow_ups_*` counts, `follow_up_rate_pct` and `satisfaction_mean` (responses in count). */
function followUpRows(f: MonthlyReport['followUps']): CsvRow[] {
  return [
    { section: 'follow_ups_due', count: f.due },
    { section: 'follow_ups_done', count: f.followedUp },
    { section: 'follow_ups_on_time', count: f.onTime },
    { section: 'follow_ups_missed', count: f.missed },
    { section: 'follow_ups_pending', count: f.pending },
    { section: 'follow_up_rate_pct', value: f.ratePct },
    { section: 'satisfaction_mean', count: f.satisfaction.responses, value: f.satisfaction.mean },
  ];
}

function fieldRows(field: MonthlyReport['field']): CsvRow[] {
  return [
    { section: 'dispatches', count: field.dispatches },
    { section: 'dispatched_engineers', count: field.dispatchedEngineers },
    { section: 'on_site_visits', count: field.onSiteVisits },
  ];
}

/**
 * §4.5.3.6 rows: `days_in_month` (the divisor of `per_day`), then per scope
 * `installation_person_times` and `dispatch_person_times` (count and per_day), `…_person_days`,
 * and one row per currency of `installation_cost`, `dispatch_cost`, `material_cost`,
 * `transport_cost`, `other_cost`, `total_after_sales_cost`; for a customer or a project also a
 * `summary` row (incidents reported, met on time, breached, compliance).
 */
function statisticsRows(st: MonthlyReport['statistics']): CsvRow[] {
  return [
    { section: 'days_in_month', count: st.days },
    ...costRows({ scope: 'overall' }, st.overall),
    ...[
      ...st.byCustomer.map((c) => ({ scope: { scope: 'customer', customer: c.customer }, s: c })),
      ...st.byProject.map((p) => ({
        scope: { scope: 'project', customer: p.customer, site: p.site },
        s: p,
      })),
    ].flatMap(({ scope, s }) => [
      {
        section: 'summary',
        ...scope,
        count: s.incidents,
        met_on_time: s.metOnTime,
        breached: s.breached,
        compliance_pct: s.compliancePct,
      },
      ...costRows(scope, s.statistics),
    ]),
  ];
}

/**
 * §4.5.8.4 rows: `inspections` (count = due in the month, met on time, breached, open, compliance)
 * for scope `overall`, then per `site` (a customer-wide schedule: scope `customer`).
 */
function inspectionRows(i: MonthlyReport['inspections']): CsvRow[] {
  const row = (scope: CsvRow, c: Omit<MonthlyReport['inspections'], 'bySite'>): CsvRow => ({
    section: 'inspections',
    ...scope,
    count: c.due,
    met_on_time: c.metOnTime,
    breached: c.breached,
    open: c.open,
    compliance_pct: c.compliancePct,
  });
  return [
    row({ scope: 'overall' }, i),
    ...i.bySite.map((s) =>
      row({ scope: s.site === null ? 'customer' : 'site', customer: s.customer, site: s.site }, s),
    ),
  ];
}

function costRows(scope: CsvRow, c: CostStats): CsvRow[] {
  const money = (section: string, sums: CostStats['material']): CsvRow[] =>
    sums.map((m) => ({ section, ...scope, currency: m.currency, amount_minor: m.amount }));
  const effort = (name: 'installation' | 'dispatch'): CsvRow[] => [
    {
      section: `${name}_person_times`,
      ...scope,
      count: c[name].personTimes,
      per_day: c[name].personTimesPerDay,
    },
    { section: `${name}_person_days`, ...scope, count: c[name].personDays },
    ...money(`${name}_cost`, c[name].cost),
  ];
  return [
    ...effort('installation'),
    ...effort('dispatch'),
    ...money('material_cost', c.material),
    ...money('transport_cost', c.transport),
    ...money('other_cost', c.other),
    ...money('total_after_sales_cost', c.totalAfterSales),
  ];
}

/**
 * One CSV field (RFC 4180 quoting). A text that a spreadsheet would run as a formula (starting
 * with =, +, -, @, tab or carriage return: a customer named `=HYPERLINK(…)`, found by a tester)
 * gets a leading `'` (OWASP "CSV injection"); numbers are written as they are.
 */
function csvCell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' && /^[=+\-@\t\r]/.test(v) ? `'${v}` : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
