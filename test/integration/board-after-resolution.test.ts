/**
 * What GET /v1/sla/at-risk and the wallboard show of an incident once it was resolved. A follow-up
 * (seed §4.5.7.6 回访) is owed after the resolution, while the incident is resolved or closed: its
 * clock is the only one still running then, and both list it like any open milestone (SPEC §2
 * "open milestones"); the other, stopped clocks of the same incidents stay off both. A reopened
 * incident's earlier cycle, breached and stopped at the resolution, stands on the board's
 * breached list without ageing. Rows inserted as the projector leaves them, a manual clock,
 * requests through the real server.
 */
import {
  insertIncident,
  insertMilestone,
  manualClock,
  ownDatabase,
  readServer,
  type OwnDatabase,
  type ReadServer,
} from './fixtures/read-data';

jest.setTimeout(60_000);

const HOUR = 3_600_000;
const NOW = Math.floor(Date.now() / 1000) * 1000;
const at = (offsetMs: number) => new Date(NOW + offsetMs);

let db: OwnDatabase;
let server: ReadServer;

async function get<T>(url: string): Promise<T> {
  const res = await server.app.inject({ url, headers: server.auth.read });
  expect(res.statusCode).toBe(200);
  return res.json<T>();
}

beforeAll(async () => {
  db = await ownDatabase('board_after_resolution');
  server = await readServer(db.pool, manualClock(NOW));
  const { pool } = db;
  // R: resolved 60 h ago, solution breached before that (stopped at the resolution); the 72 h
  // follow-up is warned (80 % passed), due in 12 h.
  await insertIncident(pool, {
    id: 'R',
    severity: 'II',
    site: 'DC7',
    status: 'resolved',
    reportedAt: at(-70 * HOUR),
    resolvedAt: at(-60 * HOUR),
  });
  await insertMilestone(pool, {
    incidentId: 'R',
    milestone: 'solution',
    state: 'breached',
    startAt: at(-70 * HOUR),
    dueAt: at(-68 * HOUR),
    breachedAt: at(-68 * HOUR),
    stoppedAt: at(-60 * HOUR),
  });
  await insertMilestone(pool, {
    incidentId: 'R',
    milestone: 'follow_up',
    state: 'warned',
    startAt: at(-60 * HOUR),
    dueAt: at(12 * HOUR),
    warnAt: [at(-2.4 * HOUR)],
  });
  // K: closed, its follow-up overdue by 8 h and still owed (clock running).
  await insertIncident(pool, {
    id: 'K',
    severity: 'III',
    site: 'DC7',
    status: 'closed',
    reportedAt: at(-90 * HOUR),
    resolvedAt: at(-80 * HOUR),
  });
  await insertMilestone(pool, {
    incidentId: 'K',
    milestone: 'follow_up',
    state: 'breached',
    startAt: at(-80 * HOUR),
    dueAt: at(-8 * HOUR),
    warnAt: [at(-22.4 * HOUR)],
    breachedAt: at(-8 * HOUR),
  });
  // P: reopened 2 h ago (open again): its first cycle's response breached 30 h ago and stopped at
  // the resolution, 20 h ago; the second cycle's response was met.
  await insertIncident(pool, {
    id: 'P',
    severity: 'I',
    site: 'DC7',
    reportedAt: at(-31 * HOUR),
    reopenedAt: [at(-2 * HOUR)],
  });
  await insertMilestone(pool, {
    incidentId: 'P',
    milestone: 'response',
    state: 'breached',
    startAt: at(-31 * HOUR),
    dueAt: at(-30 * HOUR),
    breachedAt: at(-30 * HOUR),
    stoppedAt: at(-20 * HOUR),
  });
  await insertMilestone(pool, {
    incidentId: 'P',
    milestone: 'response',
    cycle: 1,
    state: 'met',
    startAt: at(-2 * HOUR),
    dueAt: at(-2 * HOUR + 300_000),
    metAt: at(-2 * HOUR + 60_000),
  });
  // F: closed and followed up: nothing owed.
  await insertIncident(pool, {
    id: 'F',
    severity: 'I',
    site: 'DC7',
    status: 'closed',
    reportedAt: at(-50 * HOUR),
    resolvedAt: at(-40 * HOUR),
  });
  await insertMilestone(pool, {
    incidentId: 'F',
    milestone: 'follow_up',
    state: 'met',
    startAt: at(-40 * HOUR),
    dueAt: at(32 * HOUR),
    metAt: at(-30 * HOUR),
  });
});

afterAll(async () => {
  await server?.app.close();
  await db?.drop();
});

interface AtRisk {
  items: { incidentId: string; milestone: string; state: string; remainingSeconds: number }[];
}

it('GET /v1/sla/at-risk lists the follow-up a resolved incident owes, and the overdue one on request', async () => {
  const within = await get<AtRisk>('/v1/sla/at-risk?horizon=P1D');
  expect(within.items.map((i) => `${i.incidentId}/${i.milestone}/${i.state}`)).toEqual([
    'R/follow_up/warned',
  ]);
  expect(within.items[0]!.remainingSeconds).toBe(12 * 3600);
  const all = await get<AtRisk>('/v1/sla/at-risk?horizon=P1D&includeBreached=true&site=DC7');
  expect(all.items.map((i) => `${i.incidentId}/${i.milestone}/${i.state}`)).toEqual([
    'K/follow_up/breached',
    'R/follow_up/warned',
  ]);
});

interface Board {
  atRisk: { incidentId: string; milestone: string; state: string }[];
  breached: {
    incidentId: string;
    milestones: { milestone: string; overdueSeconds: number | null; ticking: boolean }[];
  }[];
}

it('the wallboard shows the owed follow-up at risk, the overdue one as breached now and ageing, a stopped breach standing still', async () => {
  const b = await get<Board>('/v1/board?tz=UTC');
  expect(b.atRisk.map((r) => `${r.incidentId}/${r.milestone}/${r.state}`)).toEqual([
    'R/follow_up/warned',
  ]);
  // R's solution breach stopped at the resolution: not "breached now". K's follow-up is, and
  // ages; P's first cycle stands breached (10 h overdue when the resolution stopped it), still.
  expect(b.breached).toEqual([
    expect.objectContaining({
      incidentId: 'P',
      milestones: [
        expect.objectContaining({
          milestone: 'response',
          cycle: 0,
          overdueSeconds: 10 * 3600,
          ticking: false,
        }),
      ],
    }),
    expect.objectContaining({
      incidentId: 'K',
      milestones: [
        expect.objectContaining({
          milestone: 'follow_up',
          overdueSeconds: 8 * 3600,
          ticking: true,
        }),
      ],
    }),
  ]);
});
