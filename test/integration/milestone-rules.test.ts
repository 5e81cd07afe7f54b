/**
 * The SQL twin of milestoneAt (migrations/0008_milestone_rules.sql) against real Postgres: every
 * case of the domain's table (test/unit/domain/milestone-cases.ts) is stored as a milestone row,
 * run through the `sla_milestone_*` functions at the case's instant, and compared row by row with
 * what the TypeScript rule says. Then the views: v_milestones, v_breaches and v_incidents must say
 * what the functions say at the view's own now(); a view that disagrees fails here.
 */
import { milestoneSql } from '../../src/tables/milestones';
import { ReadQueries } from '../../src/application/queries';
import { milestoneAt, onAtRiskList, wholeSeconds, type MilestoneAt } from '../../src/domain';
import { MILESTONE_AT_CASES } from '../unit/domain/milestone-cases';
import { ownDatabase, type OwnDatabase } from '../helpers/infra';

let db: OwnDatabase;
const ts = (ms: number | null) => (ms === null ? null : new Date(ms));

beforeAll(async () => {
  db = await ownDatabase('milestone_rules');
  // One incident per case (its status does not enter the rule: the row says it all).
  for (const [i, c] of MILESTONE_AT_CASES.entries()) {
    const id = `CASE-${i}`;
    await db.pool.query(
      `INSERT INTO incidents (incident_id, status, severity, title, reported_at)
       VALUES ($1, 'open', 'I', $2, $3)`,
      [id, c.name, ts(c.stored.startAt)],
    );
    const s = c.stored;
    await db.pool.query(
      `INSERT INTO milestones (incident_id, milestone, cycle, state, start_at, due_at, warn_at,
         met_at, breached_at, stopped_at, overdue_paused_ms)
       VALUES ($1, 'response', 0, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        id,
        s.state,
        ts(s.startAt),
        ts(s.dueAt),
        s.warnAt.map((w) => new Date(w)),
        ts(s.metAt),
        ts(s.breachedAt),
        ts(s.stoppedAt),
        s.overduePausedMs,
      ],
    );
  }
}, 60_000);

afterAll(async () => {
  await db?.drop();
});

interface Row {
  state: string;
  is_breached: boolean;
  breached_at: Date | null;
  remaining_ms: string | null;
  overdue_ms: string | null;
  is_open: boolean;
  clock_started: boolean;
  remaining_seconds: string | null;
  overdue_seconds: string | null;
  filter_breached: boolean;
  filter_at_risk: boolean;
  filter_open_ahead: boolean;
}

/** Every function of the twin (and the read API's filter predicates) at `at`. */
async function sqlAt(id: string, at: number): Promise<Row> {
  const f = milestoneSql('$2');
  const { rows } = await db.pool.query<Row>(
    `SELECT sla_milestone_state_at(m.state, m.due_at, m.warn_at, $2) AS state,
            sla_milestone_is_breached(m.state, m.due_at, m.breached_at, $2) AS is_breached,
            CASE WHEN sla_milestone_is_breached(m.state, m.due_at, m.breached_at, $2)
              THEN coalesce(m.breached_at, m.due_at) END AS breached_at,
            sla_milestone_remaining_ms(m.state, m.due_at, m.stopped_at, m.overdue_paused_ms, $2)
              AS remaining_ms,
            sla_milestone_overdue_ms(m.state, m.due_at, m.breached_at, m.stopped_at,
                                     m.overdue_paused_ms, $2) AS overdue_ms,
            sla_milestone_is_open(m.state, m.start_at, m.stopped_at, $2) AS is_open,
            sla_milestone_clock_started(m.state, m.start_at, m.stopped_at, $2) AS clock_started,
            floor(sla_milestone_remaining_ms(m.state, m.due_at, m.stopped_at, m.overdue_paused_ms,
                                             $2) / 1000)::bigint AS remaining_seconds,
            floor(sla_milestone_overdue_ms(m.state, m.due_at, m.breached_at, m.stopped_at,
                                           m.overdue_paused_ms, $2) / 1000)::bigint
              AS overdue_seconds,
            ${f.breached} AS filter_breached, ${f.atRisk} AS filter_at_risk,
            ${f.openAhead} AS filter_open_ahead
     FROM milestones m WHERE m.incident_id = $1`,
    [id, new Date(at)],
  );
  return rows[0]!;
}

const num = (v: string | null) => (v === null ? null : Number(v));

describe('the SQL twin computes what milestoneAt computes, case by case', () => {
  test.each(MILESTONE_AT_CASES.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = MILESTONE_AT_CASES[i]!;
    const want: MilestoneAt = milestoneAt(c.stored, c.at);
    expect(want).toEqual(c.expected);
    const got = await sqlAt(`CASE-${i}`, c.at);
    expect({
      state: got.state,
      breachedAt: got.breached_at?.getTime() ?? null,
      remainingMs: num(got.remaining_ms),
      overdueMs: num(got.overdue_ms),
      isOpen: got.is_open,
      clockStarted: got.clock_started,
    }).toEqual(want);
    expect(num(got.remaining_seconds)).toBe(
      want.remainingMs === null ? null : wholeSeconds(want.remainingMs),
    );
    expect(num(got.overdue_seconds)).toBe(
      want.overdueMs === null ? null : wholeSeconds(want.overdueMs),
    );
    // The read API's filters: breached, at risk, open ahead (next due).
    expect(got.filter_breached).toBe(want.breachedAt !== null);
    expect(got.filter_at_risk).toBe(want.state === 'warned');
    expect(got.filter_open_ahead).toBe(want.state === 'pending' || want.state === 'warned');
  });
});

describe('the views say what the functions say at their now()', () => {
  test('v_milestones, row by row', async () => {
    const { rows } = await db.pool.query<{ id: string; same: boolean; detail: unknown }>(
      `SELECT v.incident_id AS id,
              (v.state, v.is_open, v.clock_started, v.breached_at, v.remaining_seconds,
               v.overdue_seconds)
              IS NOT DISTINCT FROM
              (sla_milestone_state_at(m.state, m.due_at, m.warn_at, n.at),
               sla_milestone_is_open(m.state, m.start_at, m.stopped_at, n.at),
               sla_milestone_clock_started(m.state, m.start_at, m.stopped_at, n.at),
               CASE WHEN sla_milestone_is_breached(m.state, m.due_at, m.breached_at, n.at)
                 THEN coalesce(m.breached_at, m.due_at) END,
               floor(sla_milestone_remaining_ms(m.state, m.due_at, m.stopped_at,
                                                m.overdue_paused_ms, n.at) / 1000)::bigint,
               floor(sla_milestone_overdue_ms(m.state, m.due_at, m.breached_at, m.stopped_at,
                                              m.overdue_paused_ms, n.at) / 1000)::bigint) AS same,
              row_to_json(v) AS detail
       FROM v_milestones v
       JOIN milestones m USING (incident_id, milestone, cycle)
       CROSS JOIN (SELECT now() AS at) n
       ORDER BY 1`,
    );
    expect(rows).toHaveLength(MILESTONE_AT_CASES.length);
    expect(rows.filter((r) => !r.same)).toEqual([]);
  });

  test('v_breaches holds exactly the breached ones; v_incidents counts them', async () => {
    const { rows } = await db.pool.query<{ id: string; listed: boolean; breached: boolean }>(
      `SELECT m.incident_id AS id,
              EXISTS (SELECT 1 FROM v_breaches b WHERE b.incident_id = m.incident_id) AS listed,
              sla_milestone_is_breached(m.state, m.due_at, m.breached_at, now()) AS breached
       FROM milestones m ORDER BY 1`,
    );
    expect(rows.filter((r) => r.listed !== r.breached)).toEqual([]);
    const { rows: incidents } = await db.pool.query<{ same: boolean }>(
      `SELECT (i.breached_milestones, i.open_milestones, i.is_at_risk) = (
                (SELECT count(*)::int FROM v_milestones v
                 WHERE v.incident_id = i.incident_id AND v.breached_at IS NOT NULL),
                (SELECT count(*)::int FROM v_milestones v
                 WHERE v.incident_id = i.incident_id AND v.is_open),
                (SELECT bool_or(v.state = 'warned') FROM v_milestones v
                 WHERE v.incident_id = i.incident_id)) AS same
       FROM v_incidents i`,
    );
    expect(incidents.every((r) => r.same)).toBe(true);
  });
});

describe('GET /v1/sla/at-risk lists what onAtRiskList says, case by case', () => {
  const horizons = [120, 30 * 86400];
  const variants = MILESTONE_AT_CASES.flatMap((c, i) =>
    horizons.flatMap((horizon) =>
      [false, true].map(
        (includeBreached) =>
          [
            `${c.name} (horizon ${horizon} s, includeBreached ${includeBreached})`,
            i,
            horizon,
            includeBreached,
          ] as const,
      ),
    ),
  );
  test.each(variants)('%s', async (_name, i, horizon, includeBreached) => {
    const c = MILESTONE_AT_CASES[i]!;
    const items = await new ReadQueries(db.pool).atRisk(
      { horizon, includeBreached, limit: 500 },
      c.at,
    );
    const listed = items.some((item) => item.incidentId === `CASE-${i}`);
    expect(listed).toBe(onAtRiskList(c.stored, c.at, horizon * 1000, includeBreached));
  });
});
