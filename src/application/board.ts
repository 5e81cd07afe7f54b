/**
 * The wallboard's snapshot (GET /v1/board, issue 16): at-risk milestones, breached incidents,
 * today's counts and this month's compliance, in one answer. Reads only; `now` (epoch ms, from the
 * Clock) decides what is warned, breached and "today".
 *
 * No rule is restated here: states come from ./milestone-state.ts (`milestoneView` per row) and
 * the milestone rule's SQL twin in filters and counts (src/tables/milestones.ts `milestoneSql`,
 * `onAtRiskListSql`), the effective tier from src/tables/incidents.ts, and the month's
 * compliance counts milestones exactly as the monthly report does (./reports.ts: met = `met`,
 * breached = the shared predicate, cancelled incidents left out).
 */
import { DateTime } from 'luxon';
import type { Board, BoardAtRiskItem, BoardBreachedItem, BoardQuery } from '../contracts/board';
import { SEVERITIES } from '../contracts/read';
import { milestoneAt } from '../domain';
import type { Pool } from '../infra/db';
import { SQL_EFFECTIVE_TIER } from '../tables/incidents';
import { milestoneSql, onAtRiskListSql, type MilestoneRecord } from '../tables/milestones';
import { Params } from '../tables/sql';
import { milestoneView, storedMilestone } from './milestone-state';
import { monthRange } from './reports';

type IncidentColumns = {
  title: string | null;
  severity: BoardAtRiskItem['severity'];
  site: string | null;
  assignee: string | null;
  effective_tier: number;
};

const ORDER = 'm.due_at, m.incident_id, m.milestone, m.cycle';
const COLUMNS = `m.*, i.title, i.severity, i.site, i.assignee, ${SQL_EFFECTIVE_TIER} AS effective_tier`;

/** The board's filters as SQL terms over incidents `i`. */
function filters(q: BoardQuery, p: Params): string[] {
  const where: string[] = [];
  if (q.severity) where.push(`i.severity = ANY(${p.add(q.severity)}::text[])`);
  if (q.site !== undefined) where.push(`i.site = ${p.add(q.site)}`);
  if (q.tier) where.push(`${SQL_EFFECTIVE_TIER} = ANY(${p.add(q.tier)}::int[])`);
  return where;
}

/**
 * The board at `now`. `zone` (IANA) bounds "today" and "this month".
 * Errors: only the pool's (Postgres unavailable → the error handler's 503).
 */
export async function boardSnapshot(
  pool: Pool,
  q: BoardQuery,
  zone: string,
  now: number,
): Promise<Board> {
  const local = DateTime.fromMillis(now, { zone });
  const day = { from: local.startOf('day'), to: local.startOf('day').plus({ days: 1 }) };
  const month = local.toFormat('yyyy-MM');
  const [atRisk, breached, today, compliance] = await Promise.all([
    atRiskRows(pool, q, now),
    breachedRows(pool, q, now),
    todayCounts(pool, q, day.from.toJSDate(), day.to.toJSDate(), now),
    monthCompliance(pool, q, monthRange(month, zone), now),
  ]);
  return {
    asOf: new Date(now).toISOString(),
    timeZone: zone,
    atRisk,
    breached,
    today: { from: day.from.toUTC().toISO()!, to: day.to.toUTC().toISO()!, ...today },
    month: { month, compliance },
  };
}

/**
 * Open milestones whose clock runs and whose deadline is ahead: what GET /v1/sla/at-risk lists
 * without a horizon and without the breached ones (`onAtRiskList`). Those of open incidents, and
 * the follow-ups owed by resolved and closed ones (their clock starts at the resolution).
 */
async function atRiskRows(pool: Pool, q: BoardQuery, now: number): Promise<BoardAtRiskItem[]> {
  const p = new Params();
  const at = p.add(new Date(now));
  const where = [onAtRiskListSql(at, `'infinity'::timestamptz`, 'false'), ...filters(q, p)];
  const { rows } = await pool.query<MilestoneRecord & IncidentColumns>(
    `SELECT ${COLUMNS}
     FROM milestones m JOIN incidents i ON i.incident_id = m.incident_id
     WHERE ${where.join(' AND ')}
     ORDER BY ${ORDER} LIMIT ${p.add(q.limit)}`,
    p.values,
  );
  return rows.map((r) => {
    const v = milestoneView(r, now);
    return {
      ...incident(r),
      milestone: r.milestone,
      cycle: r.cycle,
      state: v.state,
      dueAt: v.dueAt!,
      warnAt: v.warnAt,
      nextWarnAt: r.warn_at.find((w) => w.getTime() > now)?.toISOString() ?? null,
      remainingSeconds: v.remainingSeconds!,
    };
  });
}

/**
 * Incidents with a milestone whose state now is `breached` (unmet past its deadline), each with
 * those milestones, most overdue first: open incidents (a breach whose clock stands, paused
 * after it, included), and resolved or closed ones whose breached milestone is still open (a
 * follow-up overdue and still owed; their other clocks stopped at the resolution). A milestone
 * met late is no longer breached *now*.
 */
async function breachedRows(pool: Pool, q: BoardQuery, now: number): Promise<BoardBreachedItem[]> {
  const p = new Params();
  const at = p.add(new Date(now));
  const sql = milestoneSql(at);
  const where = [
    `(i.status = 'open' OR ${sql.open})`,
    `m.state <> 'met_late'`,
    sql.breached,
    ...filters(q, p),
  ];
  // Rows are milestones; a few per incident at most (six in the default policy, per cycle).
  const { rows } = await pool.query<
    MilestoneRecord & IncidentColumns & { escalated_at: Date | null }
  >(
    `SELECT ${COLUMNS},
            (SELECT max(e.escalated_at) FROM escalations e
             WHERE e.incident_id = i.incident_id) AS escalated_at
     FROM milestones m JOIN incidents i ON i.incident_id = m.incident_id
     WHERE ${where.join(' AND ')}
     ORDER BY ${ORDER} LIMIT ${p.add(q.limit * 20)}`,
    p.values,
  );
  const byIncident = new Map<string, BoardBreachedItem>();
  for (const r of rows) {
    const v = milestoneView(r, now);
    // Breached now: unmet past its deadline, running or with its clock stopped (paused after the
    // breach: a pause never undoes one). Met late is settled, not "now".
    if (v.breachedAt === null || v.state === 'met_late' || v.dueAt === null) continue;
    let item = byIncident.get(r.incident_id);
    if (!item) {
      if (byIncident.size >= q.limit) continue;
      item = { ...incident(r), milestones: [], escalatedAt: r.escalated_at?.toISOString() ?? null };
      byIncident.set(r.incident_id, item);
    }
    // The read API's remaining time, negated: it stops (or is null) once the milestone's clock
    // stands (paused; stopped by a resolution, e.g. a reopened incident's earlier cycle), and only
    // an open milestone, breached and running, keeps ageing (the domain's isOpen).
    item.milestones.push({
      milestone: r.milestone,
      cycle: r.cycle,
      dueAt: v.dueAt,
      overdueSeconds: v.remainingSeconds === null ? null : Math.max(0, -v.remainingSeconds),
      ticking:
        v.state === 'breached' &&
        v.remainingSeconds !== null &&
        milestoneAt(storedMilestone(r), now).isOpen,
    });
  }
  return [...byIncident.values()];
}

async function todayCounts(
  pool: Pool,
  q: BoardQuery,
  from: Date,
  to: Date,
  now: number,
): Promise<Omit<Board['today'], 'from' | 'to'>> {
  const p = new Params();
  const [f, t, at] = [p.add(from), p.add(to), p.add(new Date(now))];
  const and = andFilters(q, p);
  const breached = milestoneSql(at).breached;
  const e = new Params();
  const [ef, et] = [e.add(from), e.add(to)];
  const [counts, escalations] = await Promise.all([
    pool.query<{ reported: number; met: number; breached: number }>(
      `SELECT
         (SELECT count(*) FROM incidents i
          WHERE i.reported_at >= ${f} AND i.reported_at < ${t} AND i.status <> 'cancelled'${and}
         )::int AS reported,
         (SELECT count(*) FROM milestones m JOIN incidents i ON i.incident_id = m.incident_id
          WHERE m.state = 'met' AND m.met_at >= ${f} AND m.met_at < ${t}${and})::int AS met,
         (SELECT count(*) FROM milestones m JOIN incidents i ON i.incident_id = m.incident_id
          WHERE i.status <> 'cancelled' AND m.state <> 'met' AND ${breached}
            AND coalesce(m.breached_at, m.due_at) >= ${f}
            AND coalesce(m.breached_at, m.due_at) < ${t}${and})::int AS breached`,
      p.values,
    ),
    pool.query<{ tier: number; count: number }>(
      `SELECT e.to_tier AS tier, count(*)::int AS count
       FROM escalations e JOIN incidents i ON i.incident_id = e.incident_id
       WHERE e.escalated_at >= ${ef} AND e.escalated_at < ${et}${andFilters(q, e)}
       GROUP BY e.to_tier ORDER BY e.to_tier`,
      e.values,
    ),
  ]);
  const c = counts.rows[0]!;
  return { reported: c.reported, met: c.met, breached: c.breached, escalations: escalations.rows };
}

/** The filters as ` AND …` terms (empty without filters). */
function andFilters(q: BoardQuery, p: Params): string {
  return filters(q, p)
    .map((w) => ` AND ${w}`)
    .join('');
}

async function monthCompliance(
  pool: Pool,
  q: BoardQuery,
  range: { from: Date; to: Date },
  now: number,
): Promise<Board['month']['compliance']> {
  const p = new Params();
  const [f, t, at] = [p.add(range.from), p.add(range.to), p.add(new Date(now))];
  const and = andFilters(q, p);
  // Counted as the report counts (milestones whose clock started); the board test checks that
  // the two agree.
  const sql = milestoneSql(at);
  const { rows } = await pool.query<{ severity: string; met: number; breached: number }>(
    `SELECT i.severity,
            count(*) FILTER (WHERE m.state = 'met')::int AS met,
            count(*) FILTER (WHERE m.state <> 'met' AND ${sql.breached})::int AS breached
     FROM incidents i JOIN milestones m ON m.incident_id = i.incident_id
     WHERE i.reported_at >= ${f} AND i.reported_at < ${t} AND i.status <> 'cancelled'${and}
       AND ${sql.clockStarted}
     GROUP BY i.severity`,
    p.values,
  );
  return SEVERITIES.filter((s) => !q.severity || q.severity.includes(s)).map((severity) => {
    const r = rows.find((x) => x.severity === severity);
    const met = r?.met ?? 0;
    const breached = r?.breached ?? 0;
    return {
      severity,
      metOnTime: met,
      breached,
      compliancePct: met + breached === 0 ? null : Math.round((1000 * met) / (met + breached)) / 10,
    };
  });
}

function incident(r: { incident_id: string } & IncidentColumns) {
  return {
    incidentId: r.incident_id,
    title: r.title,
    severity: r.severity,
    site: r.site,
    assignee: r.assignee,
    tier: r.effective_tier,
  };
}
