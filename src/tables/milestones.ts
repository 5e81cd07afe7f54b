/**
 * Table `milestones` (migrations 0001, 0008): one row per milestone cycle of an incident, as of
 * the incident's latest event (src/domain/evaluate.ts MilestoneView). Written by the projector
 * (only rows that changed); read by it, by the read API, the report and the wallboard. What a
 * row means at an instant is the domain's `milestoneAt`; its SQL twin is the `sla_milestone_*`
 * functions (0008, 0016), pinned by test/integration/milestone-rules.test.ts.
 */
import type { AtRiskQuery } from '../contracts/read';
import type { MilestoneState } from '../domain';
import { epochMs, isoArray, Params, ts, type N, type Statement } from './sql';

/** The row the projector writes; instants in epoch ms. */
export interface MilestoneRow {
  incidentId: string;
  milestone: string;
  cycle: number;
  state: MilestoneState;
  startAt: number | null;
  dueAt: number | null;
  warnAt: readonly number[];
  metAt: number | null;
  breachedAt: number | null;
  pausedMs: number;
  escalatesToTier: number | null;
  /** When the clock stopped ageing (met, settled, paused); see src/domain/milestone-state.ts. */
  stoppedAt: number | null;
  /** Wall ms paused after the deadline (not overdue). */
  overduePausedMs: number;
}

// ---------------------------------------------------------------------------------------------
// The projector

/** A JSON array of the milestones of the incidents `$1::text[]`, as MilestoneTuple. */
export const MILESTONES_OF_INCIDENTS = `(SELECT coalesce(json_agg(json_build_array(
    m.incident_id, m.milestone, m.cycle, m.state, ${epochMs('m.start_at')},
    ${epochMs('m.due_at')},
    (SELECT coalesce(json_agg(${epochMs('w')} ORDER BY w), '[]') FROM unnest(m.warn_at) w),
    ${epochMs('m.met_at')}, ${epochMs('m.breached_at')}, m.paused_ms, m.escalates_to_tier,
    ${epochMs('m.stopped_at')}, m.overdue_paused_ms)), '[]')
  FROM milestones m WHERE m.incident_id = ANY($1::text[]))`;

export type MilestoneTuple = [
  string,
  string,
  number,
  MilestoneState,
  N,
  N,
  number[],
  N,
  N,
  number,
  N,
  N,
  number,
];

export function milestoneFromTuple(m: MilestoneTuple): MilestoneRow {
  return {
    incidentId: m[0],
    milestone: m[1],
    cycle: m[2],
    state: m[3],
    startAt: m[4],
    dueAt: m[5],
    warnAt: m[6],
    metAt: m[7],
    breachedAt: m[8],
    pausedMs: Number(m[9]),
    escalatesToTier: m[10],
    stoppedAt: m[11],
    overduePausedMs: Number(m[12]),
  };
}

/**
 * New and changed milestone rows (callers pass only rows that differ from what is stored, see
 * projector/diff.ts); the WHERE clause still keeps an unchanged row from being rewritten, so
 * triggers and dashboards only ever see real changes.
 */
export function milestonesUpsert(rows: MilestoneRow[]): Statement {
  return {
    text: `INSERT INTO milestones AS m (incident_id, milestone, cycle, state, start_at, due_at, warn_at,
         met_at, breached_at, paused_ms, escalates_to_tier, stopped_at, overdue_paused_ms)
       SELECT u.i, u.ms, u.c, u.st, u.sa, u.da, u.wa::timestamptz[], u.ma, u.ba, u.pm, u.et, u.so,
              u.op
       FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[],
                   $6::timestamptz[], $7::text[], $8::timestamptz[], $9::timestamptz[],
                   $10::bigint[], $11::smallint[], $12::timestamptz[], $13::bigint[])
            AS u(i, ms, c, st, sa, da, wa, ma, ba, pm, et, so, op)
       ON CONFLICT (incident_id, milestone, cycle) DO UPDATE SET
         state = EXCLUDED.state, start_at = EXCLUDED.start_at, due_at = EXCLUDED.due_at,
         warn_at = EXCLUDED.warn_at, met_at = EXCLUDED.met_at, breached_at = EXCLUDED.breached_at,
         paused_ms = EXCLUDED.paused_ms, escalates_to_tier = EXCLUDED.escalates_to_tier,
         stopped_at = EXCLUDED.stopped_at, overdue_paused_ms = EXCLUDED.overdue_paused_ms,
         updated_at = now()
       WHERE (m.state, m.start_at, m.due_at, m.warn_at, m.met_at, m.breached_at, m.paused_ms,
              m.escalates_to_tier, m.stopped_at, m.overdue_paused_ms)
         IS DISTINCT FROM
             (EXCLUDED.state, EXCLUDED.start_at, EXCLUDED.due_at, EXCLUDED.warn_at,
              EXCLUDED.met_at, EXCLUDED.breached_at, EXCLUDED.paused_ms,
              EXCLUDED.escalates_to_tier, EXCLUDED.stopped_at, EXCLUDED.overdue_paused_ms)`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.milestone),
      rows.map((r) => r.cycle),
      rows.map((r) => r.state),
      rows.map((r) => ts(r.startAt)),
      rows.map((r) => ts(r.dueAt)),
      rows.map((r) => isoArray(r.warnAt)),
      rows.map((r) => ts(r.metAt)),
      rows.map((r) => ts(r.breachedAt)),
      rows.map((r) => r.pausedMs),
      rows.map((r) => r.escalatesToTier),
      rows.map((r) => ts(r.stoppedAt)),
      rows.map((r) => r.overduePausedMs),
    ],
  };
}

export function milestonesDelete(
  keys: { incidentId: string; milestone: string; cycle: number }[],
): Statement {
  return {
    text: `DELETE FROM milestones m
       USING unnest($1::text[], $2::text[], $3::int[]) AS k(i, ms, c)
       WHERE m.incident_id = k.i AND m.milestone = k.ms AND m.cycle = k.c`,
    values: [keys.map((k) => k.incidentId), keys.map((k) => k.milestone), keys.map((k) => k.cycle)],
  };
}

// ---------------------------------------------------------------------------------------------
// Readers

/** A row as `SELECT m.*` returns it (application/milestone-state.ts shows it at an instant). */
export interface MilestoneRecord {
  incident_id: string;
  milestone: string;
  cycle: number;
  state: MilestoneState;
  start_at: Date | null;
  due_at: Date | null;
  warn_at: Date[];
  met_at: Date | null;
  breached_at: Date | null;
  paused_ms: string | number;
  escalates_to_tier: number | null;
  stopped_at: Date | null;
  overdue_paused_ms: string | number;
}

/**
 * The milestone rule as SQL predicates over milestones `m`, with `now` the SQL text of the
 * instant (a parameter such as `$3`), on the SQL twin of `milestoneAt`:
 * - breached: breached or met late at `now`, or paused after its deadline;
 * - openAhead: pending or warned at `now` (the deadline still ahead);
 * - atRisk: warned at `now`;
 * - clockStarted: counted in reports (its clock started and did not "never start").
 */
export function milestoneSql(now: string): {
  breached: string;
  open: string;
  openAhead: string;
  atRisk: string;
  clockStarted: string;
} {
  const state = `sla_milestone_state_at(m.state, m.due_at, m.warn_at, ${now})`;
  return {
    breached: `sla_milestone_is_breached(m.state, m.due_at, m.breached_at, ${now})`,
    open: `sla_milestone_is_open(m.state, m.start_at, m.stopped_at, ${now})`,
    openAhead: `(${state} IN ('pending', 'warned'))`,
    atRisk: `(${state} = 'warned')`,
    clockStarted: `sla_milestone_clock_started(m.state, m.start_at, m.stopped_at, ${now})`,
  };
}

/**
 * The domain's `onAtRiskList` as a predicate over milestones `m` (its SQL twin
 * `sla_milestone_at_risk`, 0016): listed at `at` with a deadline by `until`; the three are SQL
 * text (parameters, or `'infinity'`, `false`).
 */
export function onAtRiskListSql(at: string, until: string, includeBreached: string): string {
  return `sla_milestone_at_risk(m.state, m.start_at, m.due_at, m.warn_at, m.stopped_at, ${at},
    ${until}, ${includeBreached})`;
}

/** Default-policy milestones in the policy's order; others follow by deadline. */
const MILESTONE_ORDER = `array_position(
  ARRAY['response', 'dispatch', 'arrival', 'diagnosis', 'solution', 'spare_parts', 'follow_up'],
  m.milestone)`;

/** Every milestone of an incident as MilestoneRecord, in order. */
export function milestonesOfIncident(incidentId: string): Statement {
  return {
    text: `SELECT m.* FROM milestones m WHERE m.incident_id = $1
       ORDER BY m.cycle, ${MILESTONE_ORDER} NULLS LAST, m.due_at NULLS LAST, m.milestone`,
    values: [incidentId],
  };
}

/**
 * GET /v1/sla/at-risk: the milestones the domain's `onAtRiskList` lists at `now`, through its
 * SQL twin `sla_milestone_at_risk` (0016), least time left first, with their incident's title,
 * severity, site, assignee and effective tier (`effectiveTier`, the SQL of incidents.ts over
 * `i`). Paused milestones are not at risk (their clock stands).
 *
 * The terms before the twin only narrow the scan to milestones_running_due_idx (0016): each is
 * implied by the rule (listed rows run, so stopped_at is NULL and the stored state is pending,
 * warned or breached; without includeBreached the deadline is ahead).
 *
 * The rule alone decides, whatever the incident's status: resolve, close and cancel stop every
 * running clock, except `follow_up`'s, which starts at the resolution (seed §4.5.7.6, SPEC §2
 * "open milestones"): a follow-up owed by a resolved or closed incident is listed.
 *
 * The LIMIT is applied to milestones before incidents are joined, so the join only decorates.
 * Joining first made Postgres probe an incident for every milestone in the horizon (bench/read:
 * 2,293 probes for 100 rows shown). Incident filters run inside, as a semi-join.
 */
export function atRiskMilestones(q: AtRiskQuery, now: number, effectiveTier: string): Statement {
  const p = new Params();
  const at = p.add(new Date(now));
  const until = p.add(new Date(now + q.horizon * 1000));
  const where = [
    `m.stopped_at IS NULL AND m.state IN ('pending', 'warned', 'breached')`,
    `m.due_at <= ${until}`,
    onAtRiskListSql(at, until, p.add(q.includeBreached)),
  ];
  if (!q.includeBreached) where.push(`m.due_at > ${at}`);
  const byIncident: string[] = [];
  if (q.severity) byIncident.push(`f.severity = ANY(${p.add(q.severity)}::text[])`);
  if (q.site !== undefined) byIncident.push(`f.site = ${p.add(q.site)}`);
  if (byIncident.length) {
    where.push(`m.incident_id IN (SELECT f.incident_id FROM incidents f
      WHERE ${byIncident.join(' AND ')})`);
  }
  const order = 'm.due_at, m.incident_id, m.milestone, m.cycle';
  return {
    text: `SELECT m.*, i.title, i.severity, i.site, i.assignee, ${effectiveTier} AS effective_tier
     FROM (SELECT m.* FROM milestones m WHERE ${where.join(' AND ')}
           ORDER BY ${order} LIMIT ${p.add(q.limit)}) m
     JOIN incidents i ON i.incident_id = m.incident_id
     ORDER BY ${order}`,
    values: p.values,
  };
}
