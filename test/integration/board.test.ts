/**
 * GET /v1/board over real Postgres: rows as the projector and scheduler leave them, a manual
 * clock, requests through the real server. The month's compliance must agree with the monthly
 * report (the same counting, src/application/reports.ts), and every part honours the filters.
 */
import {
  insertBreachedIncidentB,
  insertIncident,
  insertMilestone,
  manualClock,
  ownDatabase,
  readServer,
  type OwnDatabase,
  type ReadServer,
} from './fixtures/read-data';

jest.setTimeout(60_000);

const MIN = 60_000;
const NOW = Math.floor(Date.now() / 1000) * 1000;
const at = (offsetMs: number) => new Date(NOW + offsetMs);
/** A fixed-offset zone in which NOW is about noon: every fixture (±1 h) is "today", this month. */
const ZONE = (() => {
  const k = 12 - new Date(NOW).getUTCHours();
  return k >= 0 ? `Etc/GMT-${k}` : `Etc/GMT+${-k}`;
})();

let db: OwnDatabase;
let server: ReadServer;
const clock = manualClock(NOW);

interface Board {
  asOf: string;
  atRisk: {
    incidentId: string;
    milestone: string;
    state: string;
    tier: number;
    nextWarnAt: string | null;
    remainingSeconds: number;
  }[];
  breached: {
    incidentId: string;
    tier: number;
    escalatedAt: string | null;
    milestones: { milestone: string; overdueSeconds: number | null; ticking: boolean }[];
  }[];
  today: {
    from: string;
    to: string;
    reported: number;
    met: number;
    breached: number;
    escalations: { tier: number; count: number }[];
  };
  month: {
    month: string;
    compliance: { severity: string; metOnTime: number; breached: number }[];
  };
}

async function board(query = ''): Promise<Board> {
  const res = await server.app.inject({
    url: `/v1/board?tz=${encodeURIComponent(ZONE)}${query}`,
    headers: server.auth.read,
  });
  expect(res.statusCode).toBe(200);
  return res.json<Board>();
}

beforeAll(async () => {
  db = await ownDatabase('board');
  // The read API's server has the board's routes (src/http/read.ts registers them).
  server = await readServer(db.pool, clock);
  const { pool } = db;

  // A: severity I at DC1; response warned (due in 2 min), dispatch met, arrival pending.
  await insertIncident(pool, { id: 'A', severity: 'I', site: 'DC1', reportedAt: at(-3 * MIN) });
  const a = { incidentId: 'A', startAt: at(-3 * MIN) };
  await insertMilestone(pool, {
    ...a,
    milestone: 'response',
    state: 'pending',
    dueAt: at(2 * MIN),
    warnAt: [at(-MIN)],
  });
  await insertMilestone(pool, {
    ...a,
    milestone: 'dispatch',
    state: 'met',
    dueAt: at(2 * MIN),
    warnAt: [at(-MIN)],
    metAt: at(-2 * MIN),
  });
  await insertMilestone(pool, {
    ...a,
    milestone: 'arrival',
    state: 'pending',
    dueAt: at(7 * MIN),
    warnAt: [at(5 * MIN)],
  });
  // The spare-parts clock has not started: not on the board.
  await insertMilestone(pool, {
    ...a,
    milestone: 'spare_parts',
    state: 'pending',
    startAt: at(24 * 60 * MIN),
    dueAt: at(26 * 60 * MIN),
    warnAt: [at(25 * 60 * MIN)],
  });
  // The follow-up waits for the resolution (no start, no deadline): not on the board.
  await insertMilestone(pool, {
    ...a,
    milestone: 'follow_up',
    state: 'pending',
    startAt: null,
    dueAt: null,
  });
  // B: severity II at DC2; response breached 15 min ago and escalated to tier 2; diagnosis runs.
  await insertBreachedIncidentB(pool, at);
  // C: resolved with a breach (its clock stopped at the resolution): counted today, not
  // "breached now".
  await insertIncident(pool, {
    id: 'C',
    severity: 'I',
    site: 'DC1',
    status: 'resolved',
    reportedAt: at(-30 * MIN),
    resolvedAt: at(-MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'C',
    milestone: 'response',
    state: 'breached',
    startAt: at(-30 * MIN),
    dueAt: at(-25 * MIN),
    breachedAt: at(-25 * MIN),
    stoppedAt: at(-MIN),
  });
  // E: severity III at DC3; diagnosis paused after it breached: breached now, its clock stands.
  await insertIncident(pool, { id: 'E', severity: 'III', site: 'DC3', reportedAt: at(-40 * MIN) });
  await insertMilestone(pool, {
    incidentId: 'E',
    milestone: 'diagnosis',
    state: 'paused',
    startAt: at(-40 * MIN),
    dueAt: at(-10 * MIN),
    breachedAt: at(-10 * MIN),
  });
  // D: cancelled: nowhere.
  await insertIncident(pool, {
    id: 'D',
    severity: 'I',
    site: 'DC1',
    status: 'cancelled',
    reportedAt: at(-10 * MIN),
    cancelledAt: at(-5 * MIN),
  });
});

afterAll(async () => {
  await server?.app.close();
  await db?.drop();
});

it('lists running milestones by time left, with the next warning', async () => {
  const b = await board();
  expect(b.asOf).toBe(new Date(NOW).toISOString());
  expect(b.atRisk.map((r) => `${r.incidentId}/${r.milestone}/${r.state}`)).toEqual([
    'A/response/warned',
    'A/arrival/pending',
    'B/diagnosis/pending',
  ]);
  expect(b.atRisk[0]!.nextWarnAt).toBeNull();
  expect(b.atRisk[0]!.remainingSeconds).toBe(120);
  expect(b.atRisk[1]!.nextWarnAt).toBe(at(5 * MIN).toISOString());
  expect(b.atRisk[2]!.tier).toBe(2);
});

it('lists open incidents breached now, with the overdue time and the escalation', async () => {
  const b = await board();
  expect(b.breached.map((r) => r.incidentId)).toEqual(['B', 'E']);
  expect(b.breached[0]).toEqual({
    incidentId: 'B',
    title: 'title of B',
    severity: 'II',
    site: 'DC2',
    assignee: null,
    tier: 2,
    escalatedAt: at(-15 * MIN).toISOString(),
    milestones: [
      {
        milestone: 'response',
        cycle: 0,
        dueAt: at(-15 * MIN).toISOString(),
        overdueSeconds: 900,
        ticking: true,
      },
    ],
  });
  // Paused after the breach: listed, and its overdue does not age.
  expect(b.breached[1]!.milestones).toMatchObject([{ milestone: 'diagnosis', ticking: false }]);
  // A minute later A's response is past its deadline: it leaves "at risk" for "breached now".
  clock.set(NOW + 3 * MIN);
  try {
    const later = await board();
    expect(later.atRisk.map((r) => `${r.incidentId}/${r.milestone}`)).not.toContain('A/response');
    expect(later.breached.map((r) => r.incidentId)).toEqual(['B', 'E', 'A']);
  } finally {
    clock.set(NOW);
  }
});

it("counts today and this month's compliance as the monthly report does", async () => {
  const b = await board();
  expect(Date.parse(b.today.from)).toBeLessThanOrEqual(NOW - 60 * MIN);
  expect(Date.parse(b.today.to)).toBe(Date.parse(b.today.from) + 24 * 60 * MIN);
  expect(b.today).toMatchObject({
    reported: 4, // A, B, C, E (D was cancelled)
    met: 1, // A/dispatch
    breached: 3, // B/response, C/response, E/diagnosis
    escalations: [{ tier: 2, count: 1 }],
  });
  const res = await server.app.inject({
    url: `/v1/reports/monthly?month=${b.month.month}&tz=${encodeURIComponent(ZONE)}`,
    headers: server.auth.read,
  });
  const report = res.json<{
    milestones: { severity: string; metOnTime: number; breached: number }[];
  }>();
  for (const c of b.month.compliance) {
    const rows = report.milestones.filter((m) => m.severity === c.severity);
    expect([c.metOnTime, c.breached]).toEqual([
      rows.reduce((n, m) => n + m.metOnTime, 0),
      rows.reduce((n, m) => n + m.breached, 0),
    ]);
  }
  expect(b.month.compliance.find((c) => c.severity === 'I')).toEqual({
    severity: 'I',
    metOnTime: 1,
    breached: 1,
    compliancePct: 50,
  });
});

it('applies severity, site and tier filters to every part', async () => {
  const bySite = await board('&site=DC2');
  expect(new Set(bySite.atRisk.map((r) => r.incidentId))).toEqual(new Set(['B']));
  expect(bySite.breached.map((r) => r.incidentId)).toEqual(['B']);
  expect(bySite.today.reported).toBe(1);
  const byTier = await board('&tier=1');
  expect(new Set(byTier.atRisk.map((r) => r.incidentId))).toEqual(new Set(['A']));
  expect(byTier.breached.map((r) => r.incidentId)).toEqual(['E']);
  expect(byTier.today.escalations).toEqual([]);
  const bySeverity = await board('&severity=I');
  expect(bySeverity.month.compliance.map((c) => c.severity)).toEqual(['I']);
  expect(bySeverity.today).toMatchObject({ reported: 2, met: 1, breached: 1 });
});
