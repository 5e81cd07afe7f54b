/**
 * The read API over real Postgres: rows are inserted as the projector and scheduler would leave
 * them; requests go through the real server (authentication, validation, error handler).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  insertBreachedIncidentB,
  insertEscalation,
  insertEvent,
  insertIncident,
  insertMilestone,
  insertOutbox,
  manualClock,
  ownDatabase,
  readServer,
  type OwnDatabase,
  type ReadServer,
} from './fixtures/read-data';

// The machine is shared: waits are bounded by waitFor deadlines, not by jest's 5 s default.
jest.setTimeout(60_000);

const MIN = 60_000;
// A fixed "now" in the real present: outbox rows get created_at defaults from the database clock.
const NOW = Math.floor(Date.now() / 1000) * 1000;
const at = (offsetMs: number) => new Date(NOW + offsetMs);

let db: OwnDatabase;
let server: ReadServer;
const clock = manualClock(NOW);

/** A response as the tests read it: checked by value, so loosely typed. */
interface Body {
  [key: string]: unknown;
  items: Body[];
  entries: Body[];
  milestones: Body[];
  versions: Body[];
  details: Body[];
  id: string;
  incidentId: string;
  milestone: string;
  severity: string;
  state: string;
  kind: string;
  type: string;
  path: string;
  message: string;
  version: number;
  remainingSeconds: number | null;
  nextCursor: string | null;
}

async function get(url: string, headers: Record<string, string> = server.auth.read) {
  const res = await server.app.inject({ method: 'GET', url, headers });
  return { status: res.statusCode, body: res.json<Body>(), headers: res.headers };
}

beforeAll(async () => {
  db = await ownDatabase('read_api');
  server = await readServer(db.pool, clock);
  const { pool } = db;

  // A: severity I, open; response warned (warning passed, due in 2 min), dispatch met, arrival pending.
  await insertIncident(pool, {
    id: 'A',
    severity: 'I',
    site: 'DC1',
    assignee: 'ann',
    reportedAt: at(-3 * MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'A',
    milestone: 'response',
    state: 'pending',
    startAt: at(-3 * MIN),
    dueAt: at(2 * MIN),
    warnAt: [at(-MIN)],
    escalatesToTier: 2,
  });
  await insertMilestone(pool, {
    incidentId: 'A',
    milestone: 'dispatch',
    state: 'met',
    startAt: at(-3 * MIN),
    dueAt: at(2 * MIN),
    warnAt: [at(-MIN)],
    metAt: at(-2 * MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'A',
    milestone: 'arrival',
    state: 'pending',
    startAt: at(-3 * MIN),
    dueAt: at(7 * MIN),
    warnAt: [at(5 * MIN)],
  });
  // B: severity II, open; response breached 15 min ago (escalated to tier 2).
  await insertBreachedIncidentB(pool, at);
  await insertEvent(pool, {
    incidentId: 'B',
    type: 'incident.reported',
    time: at(-20 * MIN),
    data: { severity: 'II', title: 'b' },
  });
  await insertEvent(pool, {
    incidentId: 'B',
    type: 'incident.assigned',
    time: at(-10 * MIN),
    data: { assignee: 'bob' },
  });
  await insertOutbox(pool, {
    id: 'o-warn',
    incidentId: 'B',
    type: 'sla.warning',
    data: { milestone: 'response' },
    createdAt: at(-16 * MIN),
    sentAt: at(-16 * MIN),
  });
  await insertOutbox(pool, {
    id: 'o-breach',
    incidentId: 'B',
    type: 'sla.breached',
    data: { milestone: 'response' },
    createdAt: at(-15 * MIN),
  });
  // C: severity III, resolved; dispatch was met late.
  await insertIncident(pool, {
    id: 'C',
    severity: 'III',
    status: 'resolved',
    reportedAt: at(-120 * MIN),
    resolvedAt: at(-30 * MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'C',
    milestone: 'response',
    state: 'met',
    dueAt: at(-110 * MIN),
    metAt: at(-115 * MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'C',
    milestone: 'dispatch',
    state: 'met_late',
    dueAt: at(-110 * MIN),
    metAt: at(-100 * MIN),
  });
  // D: severity IV, open; diagnosis paused before its deadline (none while paused: no breach).
  await insertIncident(pool, { id: 'D', severity: 'IV', site: 'DC1', reportedAt: at(-10 * MIN) });
  await insertMilestone(pool, {
    incidentId: 'D',
    milestone: 'diagnosis',
    state: 'paused',
    dueAt: null,
    stoppedAt: at(-3 * MIN),
    pausedMs: 120_000,
  });
  // E: cancelled; P: events without a report (pending), never listed.
  await insertIncident(pool, {
    id: 'E',
    severity: 'I',
    status: 'cancelled',
    reportedAt: at(-50 * MIN),
    cancelledAt: at(-49 * MIN),
  });
  await insertIncident(pool, {
    id: 'P',
    status: 'pending',
    severity: null,
    site: null,
    reportedAt: null,
  });
});

afterAll(async () => {
  await server?.app.close();
  await db?.drop();
});

describe('GET /v1/incidents', () => {
  it('lists reported incidents newest first with a total', async () => {
    const { status, body, headers } = await get('/v1/incidents');
    expect(status).toBe(200);
    expect(headers['cache-control']).toBe('no-store');
    expect(body.items.map((i) => i.id)).toEqual(['A', 'D', 'B', 'E', 'C']);
    expect(body).toMatchObject({ total: 5, nextCursor: null, asOf: new Date(NOW).toISOString() });
    expect(body.items[0]).toMatchObject({
      id: 'A',
      severity: 'I',
      assignee: 'ann',
      tier: 1,
      breached: false,
      atRisk: true,
      nextDueAt: at(2 * MIN).toISOString(),
      policy: { id: 'default', version: 1 },
    });
  });

  it.each([
    ['severity=I', ['A', 'E']],
    ['status=open&site=DC1', ['A', 'D']],
    ['breached=true', ['B', 'C']],
    ['breached=false&status=open', ['A', 'D']],
    ['atRisk=true', ['A']],
    ['tier=2', ['B']],
    ['severity=III,IV', ['D', 'C']],
    [
      `reportedFrom=${at(-60 * MIN).toISOString()}&reportedTo=${at(-10 * MIN).toISOString()}`,
      ['B', 'E'],
    ],
  ])('filters: %s', async (query, ids) => {
    const { status, body } = await get(`/v1/incidents?${query}`);
    expect(status).toBe(200);
    expect(body.items.map((i) => i.id)).toEqual(ids);
    expect(body.total).toBe(ids.length);
  });

  it('answers a bad parameter with 400 naming it, and an unknown one too', async () => {
    const bad = await get('/v1/incidents?severity=V');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/query parameter 'severity'/);
    expect(bad.body.details).toEqual([{ path: 'severity', message: expect.any(String) }]);
    const unknown = await get('/v1/incidents?sevrity=I');
    expect(unknown.status).toBe(400);
    expect(unknown.body.details).toEqual([{ path: 'sevrity', message: 'unknown query parameter' }]);
  });

  it('needs an API key with incidents:read', async () => {
    expect((await get('/v1/incidents', {})).status).toBe(401);
    expect((await get('/v1/incidents', server.auth.writer)).status).toBe(403);
    expect((await get('/v1/incidents', server.auth.admin)).status).toBe(403);
  });
});

describe('cursor pagination', () => {
  beforeAll(async () => {
    // 25 incidents one second apart; two share a report time (the id breaks the tie) and two
    // differ by one microsecond, which a millisecond cursor would merge.
    for (let i = 1; i <= 25; i++) {
      await insertIncident(db.pool, {
        id: `G${String(i).padStart(3, '0')}`,
        severity: i % 2 ? 'III' : 'IV',
        site: 'PAGE',
        reportedAt: new Date(NOW - 3600_000 - i * 1000).toISOString(),
      });
    }
    await insertIncident(db.pool, {
      id: 'G100',
      site: 'PAGE',
      severity: 'IV',
      reportedAt: new Date(NOW - 3600_000 - 10_000).toISOString(),
    });
    await insertIncident(db.pool, {
      id: 'G101',
      site: 'PAGE',
      severity: 'IV',
      reportedAt: '2020-01-01T00:00:00.000001Z',
    });
    await insertIncident(db.pool, {
      id: 'G102',
      site: 'PAGE',
      severity: 'IV',
      reportedAt: '2020-01-01T00:00:00.000002Z',
    });
  });

  async function walk(query: string, pageSize: number, between?: () => Promise<void>) {
    const ids: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url = `/v1/incidents?site=PAGE&limit=${pageSize}&${query}${cursor ? `&cursor=${cursor}` : ''}`;
      const { status, body } = await get(url);
      expect(status).toBe(200);
      ids.push(...body.items.map((i) => i.id));
      cursor = body.nextCursor;
      pages += 1;
      if (between) await between();
    } while (cursor);
    return { ids, pages };
  }

  it('visits every incident once, in order, while new ones arrive', async () => {
    let n = 0;
    const { ids, pages } = await walk('sort=-reportedAt', 10, async () => {
      n += 1;
      await insertIncident(db.pool, { id: `NEW${n}`, site: 'PAGE', reportedAt: at(n * 1000) });
    });
    expect(pages).toBe(3);
    const g = (from: number, to: number) =>
      Array.from({ length: to - from + 1 }, (_, i) => `G${String(from + i).padStart(3, '0')}`);
    // G100 shares G010's report time: the id breaks the tie (descending). Nothing new shows up.
    expect(ids).toEqual([...g(1, 9), 'G100', ...g(10, 25), 'G102', 'G101']);
    await db.pool.query(`DELETE FROM incidents WHERE incident_id LIKE 'NEW%'`);
  });

  it('keeps microseconds across a page boundary', async () => {
    const { ids } = await walk('sort=reportedAt', 1);
    expect(ids.slice(0, 3)).toEqual(['G101', 'G102', 'G025']);
    expect(new Set(ids).size).toBe(28);
  });

  it('pages by severity, then newest first', async () => {
    const { ids } = await walk('sort=severity', 4);
    const severities = ids.map((id) =>
      id.startsWith('G1') ? 'IV' : Number(id.slice(1)) % 2 ? 'III' : 'IV',
    );
    expect(severities.indexOf('IV')).toBe(13);
    expect(severities.slice(13).every((s) => s === 'IV')).toBe(true);
    expect(new Set(ids).size).toBe(28);
  });

  it('refuses a cursor made for another sort', async () => {
    const first = await get('/v1/incidents?site=PAGE&limit=2');
    const { status, body } = await get(
      `/v1/incidents?site=PAGE&sort=reportedAt&cursor=${first.body.nextCursor}`,
    );
    expect(status).toBe(400);
    expect(body.details[0]!.path).toBe('cursor');
  });
});

describe('GET /v1/incidents/{id}', () => {
  it('shows every milestone with its state and time left at request time', async () => {
    const { status, body } = await get('/v1/incidents/A');
    expect(status).toBe(200);
    expect(body.milestones.map((m) => [m.milestone, m.state, m.remainingSeconds])).toEqual([
      ['response', 'warned', 120],
      ['dispatch', 'met', null],
      ['arrival', 'pending', 420],
    ]);
    expect(body).toMatchObject({
      breached: false,
      atRisk: true,
      tier: 1,
      asOf: new Date(NOW).toISOString(),
    });
  });

  it('moves with the clock: the warned milestone breaches at its deadline', async () => {
    clock.set(NOW + 2 * MIN);
    try {
      const { body } = await get('/v1/incidents/A');
      expect(body.milestones[0]).toMatchObject({
        state: 'breached',
        remainingSeconds: 0,
        breachedAt: at(2 * MIN).toISOString(),
      });
      expect(body.breached).toBe(true);
    } finally {
      clock.set(NOW);
    }
  });

  it('shows the effective tier and the escalations', async () => {
    const { body } = await get('/v1/incidents/B');
    expect(body).toMatchObject({ tier: 2, breached: true });
    expect(body.escalations).toEqual([
      expect.objectContaining({ fromTier: 1, toTier: 2, automatic: true, milestone: 'response' }),
    ]);
    expect(body.milestones[0]).toMatchObject({
      milestone: 'response',
      state: 'breached',
      remainingSeconds: -900,
    });
  });

  it('does not breach a paused milestone', async () => {
    const { body } = await get('/v1/incidents/D');
    expect(body.milestones).toEqual([
      expect.objectContaining({ state: 'paused', remainingSeconds: null, pausedSeconds: 120 }),
    ]);
    expect(body.breached).toBe(false);
  });

  it('shows a pending (unreported) incident by id, and 404s an unknown one', async () => {
    expect((await get('/v1/incidents/P')).body).toMatchObject({
      status: 'pending',
      reportedAt: null,
      milestones: [],
    });
    const missing = await get('/v1/incidents/NOPE');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('incident "NOPE" not found');
  });
});

describe('GET /v1/incidents/{id}/timeline', () => {
  it('merges lifecycle and SLA events in time order', async () => {
    const { status, body } = await get('/v1/incidents/B/timeline');
    expect(status).toBe(200);
    expect(body.entries.map((e) => `${e.kind}:${e.type}`)).toEqual([
      'lifecycle:incident.reported',
      'sla:sla.warning',
      'sla:sla.breached',
      'lifecycle:incident.assigned',
    ]);
    expect(body.entries[1]).toMatchObject({
      id: 'o-warn',
      source: '/sla-timer',
      topic: 'sla.warnings',
      publishedAt: at(-16 * MIN).toISOString(),
    });
    expect(body.entries[2]!.publishedAt).toBeNull();
    expect(body.entries[3]).toMatchObject({
      source: '/test',
      data: { assignee: 'bob' },
      topic: null,
    });
  });

  it('is empty for a known incident without events, 404 for an unknown one', async () => {
    expect((await get('/v1/incidents/A/timeline')).body).toEqual({ incidentId: 'A', entries: [] });
    expect((await get('/v1/incidents/NOPE/timeline')).status).toBe(404);
  });
});

describe('GET /v1/sla/at-risk', () => {
  it('lists open milestones of open incidents by time left within the horizon', async () => {
    const { status, body } = await get('/v1/sla/at-risk');
    expect(status).toBe(200);
    expect(body.horizonSeconds).toBe(3600);
    expect(body.items.map((i) => [i.incidentId, i.milestone, i.remainingSeconds])).toEqual([
      ['A', 'response', 120],
      ['A', 'arrival', 420],
      ['B', 'diagnosis', 2400],
    ]);
    expect(body.items[0]).toMatchObject({
      state: 'warned',
      severity: 'I',
      assignee: 'ann',
      tier: 1,
    });
    expect(body.items[2]).toMatchObject({ tier: 2, state: 'pending' });
  });

  it('narrows by horizon and filters, and adds overdue ones on request', async () => {
    const short = await get('/v1/sla/at-risk?horizon=PT3M');
    expect(short.body.items.map((i) => i.milestone)).toEqual(['response']);
    const dc2 = await get('/v1/sla/at-risk?site=DC2&includeBreached=true');
    expect(dc2.body.items.map((i) => `${i.milestone}:${i.state}`)).toEqual([
      'response:breached',
      'diagnosis:pending',
    ]);
    expect((await get('/v1/sla/at-risk?severity=IV')).body.items).toEqual([]);
    const bad = await get('/v1/sla/at-risk?horizon=soon');
    expect(bad.status).toBe(400);
    expect(bad.body.details[0]!.path).toBe('horizon');
  });
});

describe('GET /v1/reports/monthly', () => {
  // March 2026 in Shanghai = [2026-02-28T16:00Z, 2026-03-31T16:00Z).
  const t = (iso: string) => new Date(iso);
  beforeAll(async () => {
    const { pool } = db;
    // R1 (I): reported 00:30 on 1 March Shanghai time (still February in UTC).
    await insertIncident(pool, {
      id: 'R1',
      severity: 'I',
      status: 'resolved',
      reportedAt: t('2026-02-28T16:30:00Z'),
    });
    await insertMilestone(pool, {
      incidentId: 'R1',
      milestone: 'response',
      state: 'met',
      startAt: t('2026-02-28T16:30:00Z'),
      dueAt: t('2026-02-28T16:35:00Z'),
      metAt: t('2026-02-28T16:32:00Z'),
    });
    await insertMilestone(pool, {
      incidentId: 'R1',
      milestone: 'arrival',
      state: 'met_late',
      startAt: t('2026-02-28T16:30:00Z'),
      dueAt: t('2026-02-28T16:40:00Z'),
      metAt: t('2026-02-28T16:50:00Z'),
    });
    // Resolved within 24 h: the spare_parts clock never started, so it is not counted (SPEC §2).
    await insertMilestone(pool, {
      incidentId: 'R1',
      milestone: 'spare_parts',
      state: 'not_applicable',
      startAt: t('2026-03-01T16:30:00Z'),
      dueAt: null,
    });
    // R2 (I): response met after 4 min; R3 (II): response never met, deadline long past.
    await insertIncident(pool, {
      id: 'R2',
      severity: 'I',
      status: 'closed',
      reportedAt: t('2026-03-10T02:00:00Z'),
    });
    await insertMilestone(pool, {
      incidentId: 'R2',
      milestone: 'response',
      state: 'met',
      startAt: t('2026-03-10T02:00:00Z'),
      dueAt: t('2026-03-10T02:05:00Z'),
      metAt: t('2026-03-10T02:04:00Z'),
    });
    await insertIncident(pool, {
      id: 'R3',
      severity: 'II',
      reportedAt: t('2026-03-31T15:59:59Z'),
      reopenedAt: [t('2026-03-20T00:00:00Z')],
    });
    await insertMilestone(pool, {
      incidentId: 'R3',
      milestone: 'response',
      state: 'pending',
      startAt: t('2026-03-31T15:59:59Z'),
      dueAt: t('2026-03-31T16:04:59Z'),
    });
    // Outside the month (April in Shanghai) and a cancelled one inside: neither counts.
    await insertIncident(pool, { id: 'R4', severity: 'I', reportedAt: t('2026-03-31T16:00:00Z') });
    await insertMilestone(pool, {
      incidentId: 'R4',
      milestone: 'response',
      state: 'met',
      startAt: t('2026-03-31T16:00:00Z'),
      dueAt: t('2026-03-31T16:05:00Z'),
      metAt: t('2026-03-31T16:01:00Z'),
    });
    await insertIncident(pool, {
      id: 'R5',
      severity: 'I',
      status: 'cancelled',
      reportedAt: t('2026-03-05T00:00:00Z'),
    });
    await insertMilestone(pool, {
      incidentId: 'R5',
      milestone: 'response',
      state: 'breached',
      startAt: t('2026-03-05T00:00:00Z'),
      dueAt: t('2026-03-05T00:05:00Z'),
    });
    // Field work and escalations, by when they happened.
    await insertEvent(pool, {
      incidentId: 'R1',
      type: 'incident.dispatched',
      time: t('2026-02-28T16:33:00Z'),
      data: { engineers: ['a', 'b'] },
    });
    await insertEvent(pool, {
      incidentId: 'R2',
      type: 'incident.dispatched',
      time: t('2026-03-10T02:03:00Z'),
    });
    await insertEvent(pool, {
      incidentId: 'R1',
      type: 'incident.arrived',
      time: t('2026-02-28T16:50:00Z'),
    });
    await insertEvent(pool, {
      incidentId: 'R2',
      type: 'incident.arrived',
      time: t('2026-03-10T02:20:00Z'),
    });
    await insertEvent(pool, {
      incidentId: 'R4',
      type: 'incident.arrived',
      time: t('2026-04-02T00:00:00Z'),
    });
    await insertEvent(pool, {
      incidentId: 'R3',
      type: 'incident.reopened',
      time: t('2026-03-20T00:00:00Z'),
      data: { reason: 'x' },
    });
    await insertEvent(pool, {
      incidentId: 'R3',
      type: 'incident.reopened',
      time: t('2026-03-21T00:00:00Z'),
      data: { reason: 'y' },
    });
    // A reopen of a cancelled incident does not take effect (cancelled is final): not counted.
    await insertEvent(pool, {
      incidentId: 'R5',
      type: 'incident.reopened',
      time: t('2026-03-06T00:00:00Z'),
      data: { reason: 'z' },
    });
    await insertEscalation(pool, {
      incidentId: 'R1',
      toTier: 2,
      at: t('2026-02-28T16:40:00Z'),
      milestone: 'arrival',
    });
    await insertEscalation(pool, { incidentId: 'R3', toTier: 2, at: t('2026-03-31T16:04:59Z') }); // April in Shanghai
    await insertEscalation(pool, {
      incidentId: 'R3',
      toTier: 3,
      fromTier: 2,
      automatic: false,
      at: t('2026-03-20T00:00:00Z'),
    });
  });

  it('counts per severity and milestone, in the report time zone', async () => {
    const { status, body } = await get('/v1/reports/monthly?month=2026-03');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      month: '2026-03',
      timeZone: 'Asia/Shanghai',
      from: '2026-02-28T16:00:00.000Z',
      to: '2026-03-31T16:00:00.000Z',
      incidents: {
        reported: 3,
        bySeverity: { I: 2, II: 1, III: 0, IV: 0 },
        cancelled: 1,
        reopened: 1,
      },
      escalations: [
        { tier: 2, total: 1, automatic: 1, manual: 0 },
        { tier: 3, total: 1, automatic: 0, manual: 1 },
      ],
      field: { dispatches: 2, dispatchedEngineers: 3, onSiteVisits: 2 },
    });
    const row = (severity: string, milestone: string) =>
      body.milestones.find((m) => m.severity === severity && m.milestone === milestone);
    expect(row('I', 'response')).toEqual({
      severity: 'I',
      milestone: 'response',
      count: 2,
      metOnTime: 2,
      breached: 0,
      open: 0,
      notApplicable: 0,
      compliancePct: 100,
      medianSeconds: 180,
      p90Seconds: 228,
    });
    expect(row('I', 'arrival')).toMatchObject({
      count: 1,
      metOnTime: 0,
      breached: 1,
      compliancePct: 0,
      medianSeconds: 1200,
    });
    // Its clock never started: not in the report at all.
    expect(row('I', 'spare_parts')).toBeUndefined();
    expect(row('II', 'response')).toMatchObject({ count: 1, breached: 1, medianSeconds: null });
    expect(row('all', 'response')).toMatchObject({
      count: 3,
      metOnTime: 2,
      breached: 1,
      compliancePct: 66.7,
    });
    // Severity rows first, in milestone order, then the totals.
    expect(body.milestones.map((m) => `${m.severity}/${m.milestone}`)).toEqual([
      'I/response',
      'I/arrival',
      'II/response',
      'all/response',
      'all/arrival',
    ]);
  });

  it('moves the boundaries with tz', async () => {
    const { body } = await get('/v1/reports/monthly?month=2026-03&tz=UTC');
    // In UTC, R1 belongs to February and R4 to March.
    expect(body.incidents).toMatchObject({ bySeverity: { I: 2, II: 1, III: 0, IV: 0 } });
    expect(body.from).toBe('2026-03-01T00:00:00.000Z');
  });

  it('answers CSV to Accept: text/csv', async () => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly?month=2026-03',
      headers: { ...server.auth.read, accept: 'text/csv' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(
      'attachment; filename="sla-report-2026-03.csv"',
    );
    expect(res.body.split('\r\n')).toContain('milestone,I,response,,2,2,0,0,0,100,180,228,,,,,,,');
  });

  it('needs a valid month', async () => {
    const { status, body } = await get('/v1/reports/monthly?month=March');
    expect(status).toBe(400);
    expect(body.details[0]!.path).toBe('month');
  });
});

describe('policies', () => {
  const defaultDoc = JSON.parse(
    readFileSync(path.join(__dirname, '../../policies/default-policy.json'), 'utf8'),
  ) as Record<string, unknown>;
  const post = (id: string, payload: unknown, headers = server.auth.admin) =>
    server.app.inject({
      method: 'POST',
      url: `/v1/policies/${id}/versions`,
      headers,
      payload: payload as object,
    });

  it('creates versions with admin only, numbered in order', async () => {
    const { effectiveFrom: _e, version: _v, id: _i, ...body } = defaultDoc;
    expect((await post('gold', body, server.auth.read)).statusCode).toBe(403);
    const v1 = await post('gold', body);
    expect(v1.statusCode).toBe(201);
    expect(v1.headers.location).toBe('/v1/policies/gold');
    expect(v1.json()).toMatchObject({
      id: 'gold',
      version: 1,
      createdBy: 'admin',
      document: { id: 'gold', version: 1 },
    });
    const v2 = await post('gold', {
      ...body,
      version: 2,
      name: 'Gold v2',
      effectiveFrom: new Date(NOW + 3600_000).toISOString(),
    });
    expect(v2.statusCode).toBe(201);
    expect(v2.json().version).toBe(2);
  });

  it('refuses a stale version (409), a mismatched id, a past effectiveFrom and a bad document (400)', async () => {
    const { effectiveFrom: _e, version: _v, id: _i, ...body } = defaultDoc;
    const stale = await post('gold', { ...body, version: 1 });
    expect(stale.statusCode).toBe(409);
    expect(stale.json().message).toMatch(/next version of "gold" is 3/);
    const wrongId = await post('gold', { ...body, id: 'silver' });
    expect(wrongId.statusCode).toBe(400);
    expect(wrongId.json().details).toEqual([
      { path: 'id', message: expect.stringContaining('gold') },
    ]);
    const past = await post('gold', { ...body, effectiveFrom: '2020-01-01T00:00:00Z' });
    expect(past.statusCode).toBe(400);
    expect(past.json().details[0]!.path).toBe('effectiveFrom');
    const broken = await post('gold', {
      ...body,
      milestones: { response: { limits: { I: 'soon' } } },
    });
    expect(broken.statusCode).toBe(400);
    expect(broken.json<Body>().details.map((d) => d.path)).toContain(
      'milestones.response.limits.I',
    );
    expect((await post('gold', [1, 2])).statusCode).toBe(400);
  });

  it('lists policies and shows every version', async () => {
    const list = await get('/v1/policies');
    expect(list.body.items).toEqual([
      expect.objectContaining({ id: 'gold', name: 'Gold v2', latestVersion: 2, versions: [1, 2] }),
    ]);
    const detail = await get('/v1/policies/gold');
    expect(detail.body.versions.map((v) => v.version)).toEqual([1, 2]);
    const missing = await get('/v1/policies/platinum');
    expect(missing.status).toBe(404);
    expect(missing.body.message).toBe('policy "platinum" not found');
  });
});

describe('parameters Postgres would refuse', () => {
  /** Each request is a 400 whose first detail names the parameter. */
  async function expectRefused(cases: [url: string, path: string][]) {
    for (const [url, path] of cases) {
      const res = await get(url);
      expect({ url, status: res.status, path: res.body.details?.[0]?.path }).toEqual({
        url,
        status: 400,
        path,
      });
    }
  }

  it('a NUL or another control character is a 400 naming the parameter, never a 500', async () => {
    const nulCursor = Buffer.from(
      JSON.stringify([1, '-reportedAt', '1', 'A\u0000', null]),
    ).toString('base64url');
    const cases: [string, string][] = [
      ['/v1/incidents?site=%00', 'site'],
      ['/v1/incidents?site=DC%071', 'site'],
      [`/v1/incidents?cursor=${nulCursor}`, 'cursor'],
      ['/v1/incidents/A%00', 'id'],
      ['/v1/incidents/A%00/timeline', 'id'],
      ['/v1/sla/at-risk?site=%00', 'site'],
      ['/v1/board?site=%00', 'site'],
      ['/v1/inspections?site=%00', 'site'],
      ['/v1/inspections?customer=%00', 'customer'],
      ['/v1/inspections?scheduleId=%00', 'scheduleId'],
      ['/v1/inspection-schedules?site=%00', 'site'],
      ['/v1/inspection-schedules?customer=%00', 'customer'],
    ];
    await expectRefused(cases);
  });

  it('an instant, month or cursor out of range is a 400 naming it, never a 500 (found by a tester)', async () => {
    const cursor = (us: string) =>
      Buffer.from(JSON.stringify([1, '-reportedAt', us, 'A', null])).toString('base64url');
    const cases: [string, string][] = [
      ['/v1/incidents?reportedFrom=0000-01-01T00:00:00Z', 'reportedFrom'],
      ['/v1/incidents?reportedTo=9999-12-31T23:59:59-23:59', 'reportedTo'],
      [`/v1/incidents?cursor=${cursor('99999999999999999999')}`, 'cursor'],
      [`/v1/incidents?cursor=${cursor('-9223372036854775807')}`, 'cursor'],
      ['/v1/reports/monthly?month=0000-01', 'month'],
      ['/v1/reports/monthly?month=9999-12&tz=UTC', 'month'],
      ['/v1/inspections?dueFrom=0000-01-01T00:00:00Z', 'dueFrom'],
    ];
    await expectRefused(cases);
    // An offset beyond Postgres' ±15:59 is still a real instant: accepted, as that instant (it
    // was a 500).
    for (const url of [
      '/v1/incidents?reportedFrom=2026-12-01T00:00:00%2B20:00',
      '/v1/inspections?dueFrom=2026-12-01T00:00:00-23:59',
    ]) {
      expect({ url, status: (await get(url)).status }).toEqual({ url, status: 200 });
    }
  });

  it('an incident id of 128 characters (what ingest accepts) is looked up, not refused as too long', async () => {
    const id = 'I'.repeat(128);
    const res = await get(`/v1/incidents/${id}`);
    expect(res.status).toBe(404);
    expect(res.body.message).toContain(id);
  });

  it('a policy name with a NUL is a 400 naming it', async () => {
    const doc = JSON.parse(
      readFileSync(path.join(__dirname, '../../policies/default-policy.json'), 'utf8'),
    ) as Record<string, unknown>;
    const { effectiveFrom: _e, version: _v, id: _i, ...body } = doc;
    const res = await server.app.inject({
      method: 'POST',
      url: '/v1/policies/nul-name/versions',
      headers: server.auth.admin,
      payload: { ...body, name: 'a\u0000b' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json<Body>().details[0]).toMatchObject({ path: 'name' });
  });
});
