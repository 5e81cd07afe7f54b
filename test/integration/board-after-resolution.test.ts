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
  type IncidentFixture,
  type MilestoneFixture,
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

/** Incident `incident` and its milestones; times in hours from NOW. */
async function incidentWith(
  incident: IncidentFixture,
  milestones: Omit<MilestoneFixture, 'incidentId'>[],
): Promise<void> {
  await insertIncident(db.pool, incident);
  for (const m of milestones) await insertMilestone(db.pool, { ...m, incidentId: incident.id });
}
const h = (hours: number) => at(hours * HOUR);

beforeAll(async () => {
  db = await ownDatabase('board_after_resolution');
  server = await readServer(db.pool, manualClock(NOW));
  const dc7 = { site: 'DC7' };
  // R: resolved 60 h ago, solution breached before that (stopped at the resolution); the 72 h
  // follow-up is warned (80 % passed), due in 12 h.
  await incidentWith(
    { id: 'R', severity: 'II', ...dc7, status: 'resolved', reportedAt: h(-70), resolvedAt: h(-60) },
    [
      {
        milestone: 'solution',
        state: 'breached',
        startAt: h(-70),
        dueAt: h(-68),
        breachedAt: h(-68),
        stoppedAt: h(-60),
      },
      { milestone: 'follow_up', state: 'warned', startAt: h(-60), dueAt: h(12), warnAt: [h(-2.4)] },
    ],
  );
  // K: closed, its follow-up overdue by 8 h and still owed (clock running).
  await incidentWith(
    { id: 'K', severity: 'III', ...dc7, status: 'closed', reportedAt: h(-90), resolvedAt: h(-80) },
    [
      {
        milestone: 'follow_up',
        state: 'breached',
        startAt: h(-80),
        dueAt: h(-8),
        warnAt: [h(-22.4)],
        breachedAt: h(-8),
      },
    ],
  );
  // P: reopened 2 h ago (open again): its first cycle's response breached 30 h ago and stopped at
  // the resolution, 20 h ago; the second cycle's response was met.
  await incidentWith({ id: 'P', severity: 'I', ...dc7, reportedAt: h(-31), reopenedAt: [h(-2)] }, [
    {
      milestone: 'response',
      state: 'breached',
      startAt: h(-31),
      dueAt: h(-30),
      breachedAt: h(-30),
      stoppedAt: h(-20),
    },
    {
      milestone: 'response',
      cycle: 1,
      state: 'met',
      startAt: h(-2),
      dueAt: at(-2 * HOUR + 300_000),
      metAt: at(-2 * HOUR + 60_000),
    },
  ]);
  // F: closed and followed up: nothing owed.
  await incidentWith(
    { id: 'F', severity: 'I', ...dc7, status: 'closed', reportedAt: h(-50), resolvedAt: h(-40) },
    [{ milestone: 'follow_up', state: 'met', startAt: h(-40), dueAt: h(32), metAt: h(-30) }],
  );
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
