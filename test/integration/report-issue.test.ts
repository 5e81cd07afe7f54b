/**
 * The monthly report issued once per closed month (issue 15 item 3) against real Postgres and the
 * real broker: the frozen snapshot, its `report.monthly_issued` event on the reports topic (via the
 * outbox relay), the read route (JSON and CSV), late events as corrections in the next issue, no
 * back-fill on first start, catch-up after downtime; and exactly once with two scheduler instances
 * started together and after a restart.
 */
import { issueDueReports, type ReportIssueSettings } from '../../src/application/report-issue';
import {
  REPORT_ISSUED_TYPE,
  reportDigest,
  reportMonthlyIssuedSchema,
  type IssuedMonthlyReport,
} from '../../src/contracts/report-issue';
import { deterministicId } from '../../src/contracts/sla-events';
import { latestIssuableMonth, addMonths } from '../../src/domain/report-issue';
import { createTopics, uniqueTopic, waitFor } from '../helpers/infra';
import {
  insertIncident,
  insertMilestone,
  manualClock,
  ownDatabase,
  readServer,
  type OwnDatabase,
  type ReadServer,
} from './fixtures/read-data';
import { collectTopics, schedulerTopics } from './fixtures/scheduler-data';
import { startInProcess, type InProcessScheduler } from './fixtures/scheduler-harness';

jest.setTimeout(90_000);

const DAY = 24 * 3600 * 1000;
const at = (iso: string) => new Date(iso);
const ms = (iso: string) => Date.parse(iso);

let reportsTopic: string;
let consumed: Awaited<ReturnType<typeof collectTopics>>;

beforeAll(async () => {
  reportsTopic = uniqueTopic('reports');
  await createTopics([reportsTopic]);
  consumed = await collectTopics([reportsTopic]);
});

afterAll(async () => {
  await consumed?.stop();
});

/** The issuer's records on Kafka for `month`. */
const recordsOf = (month: string) => consumed.records.filter((r) => r.key === month);

async function reportOutboxRows(db: OwnDatabase): Promise<{ id: string; message_key: string }[]> {
  const { rows } = await db.pool.query<{ id: string; message_key: string }>(
    `SELECT id, message_key FROM outbox WHERE type = $1 ORDER BY seq`,
    [REPORT_ISSUED_TYPE],
  );
  return rows;
}

describe('issuing with the clock driven by the test', () => {
  let db: OwnDatabase;
  let server: ReadServer;
  let relay: InProcessScheduler;
  const settings = (): ReportIssueSettings => ({
    zone: 'Asia/Shanghai',
    day: 1,
    hour: 1,
    maxEventAgeMs: 30 * DAY,
    topic: reportsTopic,
    baseUrl: 'https://sla.example.com/',
  });
  const issue = async (iso: string) =>
    (await issueDueReports(db.pool, ms(iso), settings()))?.issued;

  beforeAll(async () => {
    db = await ownDatabase('report_issue');
    server = await readServer(db.pool, manualClock(Date.now()));
    // The scheduler role for its outbox relay only (its issuer, on the real clock, is off).
    relay = await startInProcess(db.url, schedulerTopics('report_issue'));
    // January 2026 in Shanghai (UTC+8): A and B. C is February there, though January in UTC.
    await insertIncident(db.pool, { id: 'A', reportedAt: at('2026-01-10T10:00:00+08:00') });
    await insertMilestone(db.pool, {
      incidentId: 'A',
      milestone: 'response',
      state: 'met',
      startAt: at('2026-01-10T10:00:00+08:00'),
      dueAt: at('2026-01-10T10:05:00+08:00'),
      metAt: at('2026-01-10T10:03:00+08:00'),
    });
    await insertIncident(db.pool, {
      id: 'B',
      severity: 'II',
      reportedAt: at('2026-01-31T23:30:00+08:00'),
    });
    await insertMilestone(db.pool, {
      incidentId: 'B',
      milestone: 'response',
      state: 'met_late',
      startAt: at('2026-01-31T23:30:00+08:00'),
      dueAt: at('2026-01-31T23:35:00+08:00'),
      metAt: at('2026-01-31T23:50:00+08:00'),
    });
    await insertIncident(db.pool, { id: 'C', reportedAt: at('2026-02-01T00:30:00+08:00') });
  });

  afterAll(async () => {
    await relay?.stop();
    await server?.app.close();
    await db?.drop();
  });

  let january: IssuedMonthlyReport;

  test('nothing before the issue time, and no back-fill of months before the first records', async () => {
    // December 2025 is issuable, but the service has no incident reported before its end.
    await expect(
      issueDueReports(db.pool, ms('2026-02-01T00:59:59+08:00'), settings()),
    ).resolves.toEqual({ issued: [], awaitingRecords: true });
    expect(await reportOutboxRows(db)).toEqual([]);
  });

  test('the closed month is issued at REPORT_ISSUE_HOUR of the 1st: snapshot, digest, event', async () => {
    const issued = await issue('2026-02-01T01:00:00+08:00');
    expect(issued?.map((r) => r.month)).toEqual(['2026-01']);
    january = issued![0]!;
    expect(january).toMatchObject({
      timeZone: 'Asia/Shanghai',
      issuedAt: '2026-01-31T17:00:00.000Z',
      corrections: [],
    });
    expect(january.report.incidents).toMatchObject({ reported: 2, bySeverity: { I: 1, II: 1 } });
    expect(january.digest).toBe(reportDigest(january.report));

    // Once: a second check (the same process later, or a restarted one) issues nothing.
    await expect(issue('2026-02-01T02:00:00+08:00')).resolves.toEqual([]);
    await expect(issue('2026-02-27T00:00:00+08:00')).resolves.toEqual([]);
    expect(await reportOutboxRows(db)).toEqual([
      { id: deterministicId(REPORT_ISSUED_TYPE, '2026-01'), message_key: '2026-01' },
    ]);

    const [record] = await waitFor(() => recordsOf('2026-01').length > 0 && recordsOf('2026-01'), {
      what: "January's report.monthly_issued on the reports topic",
    });
    const event = reportMonthlyIssuedSchema.parse(record!.value);
    expect(event).toMatchObject({
      id: deterministicId(REPORT_ISSUED_TYPE, '2026-01'),
      type: 'report.monthly_issued',
      subject: '2026-01',
      time: '2026-01-31T17:00:00.000Z',
      data: {
        month: '2026-01',
        timeZone: 'Asia/Shanghai',
        digest: january.digest,
        href: 'https://sla.example.com/v1/reports/monthly/2026-01/issued',
        summary: {
          incidentsReported: 2,
          // A met on time, B late: 50 %.
          milestones: { count: 2, metOnTime: 1, breached: 1, compliancePct: 50 },
          escalations: 0,
          corrections: [],
        },
      },
    });
  });

  test('GET …/issued serves the snapshot as JSON and CSV; 404 before issue; 400 for a bad month', async () => {
    const res = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly/2026-01/issued',
      headers: server.auth.read,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<IssuedMonthlyReport>();
    expect(body).toEqual(january);
    // The digest is checkable from the JSON served, whatever order Postgres kept the keys in.
    expect(reportDigest(body.report)).toBe(january.digest);

    const csv = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly/2026-01/issued?format=csv',
      headers: server.auth.read,
    });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.headers['report-digest']).toBe(january.digest);
    expect(csv.headers['report-issued-at']).toBe('2026-01-31T17:00:00.000Z');
    expect(csv.body.startsWith('month,section,severity,')).toBe(true);
    expect(csv.body).toContain('\r\n2026-01,incidents_reported,I,,,1,');
    expect(csv.body).toContain('\r\n2026-01,incidents_reported,II,,,1,');

    const missing = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly/2026-02/issued',
      headers: server.auth.read,
    });
    expect(missing.statusCode).toBe(404);
    const bad = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly/2026-13/issued',
      headers: server.auth.read,
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ details: [{ path: 'month' }] });
  });

  test('a late event never changes the snapshot; it is a correction in the next issue, once', async () => {
    // Learned on 10 February: D was reported in January.
    await insertIncident(db.pool, {
      id: 'D',
      severity: 'III',
      reportedAt: at('2026-01-20T08:00:00+08:00'),
    });
    const res = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly/2026-01/issued',
      headers: server.auth.read,
    });
    expect(res.json<IssuedMonthlyReport>()).toEqual(january);

    const [february] = (await issue('2026-03-01T01:00:00+08:00'))!;
    expect(february!.month).toBe('2026-02');
    expect(february!.report.incidents.reported).toBe(1); // C
    expect(february!.corrections).toHaveLength(1);
    const correction = february!.corrections[0]!;
    expect(correction).toMatchObject({ month: '2026-01', supersedes: january.digest });
    expect(correction.report.incidents).toMatchObject({
      reported: 3,
      bySeverity: { I: 1, II: 1, III: 1 },
    });
    expect(correction.digest).toBe(reportDigest(correction.report));
    // CSV: February's rows, then January's corrected ones, told apart by the month column.
    const csv = await server.app.inject({
      method: 'GET',
      url: '/v1/reports/monthly/2026-02/issued',
      headers: { ...server.auth.read, accept: 'text/csv' },
    });
    expect(csv.headers['report-corrections']).toBe('2026-01');
    const reported = csv.body
      .split('\r\n')
      .filter((line) => /^2026-0[12],incidents_reported,/.test(line))
      .map((line) => line.split(',').filter((cell, i) => [0, 2, 5].includes(i) && cell));
    expect(reported).toEqual([
      ['2026-02', 'I', '1'],
      ['2026-02', 'II', '0'],
      ['2026-02', 'III', '0'],
      ['2026-02', 'IV', '0'],
      ['2026-01', 'I', '1'],
      ['2026-01', 'II', '1'],
      ['2026-01', 'III', '1'],
      ['2026-01', 'IV', '0'],
    ]);

    // March's issue re-checks January and February again (events may be 30 days old): January is
    // unchanged since its correction, so only the new late event (February) is corrected.
    await insertIncident(db.pool, { id: 'E', reportedAt: at('2026-02-15T08:00:00+08:00') });
    const [march] = (await issue('2026-04-01T01:00:00+08:00'))!;
    expect(march!.month).toBe('2026-03');
    expect(march!.corrections.map((c) => [c.month, c.supersedes])).toEqual([
      ['2026-02', february!.digest],
    ]);
    expect(march!.corrections[0]!.report.incidents.reported).toBe(2);

    const marchEvent = await waitFor(() => recordsOf('2026-03')[0], {
      what: "March's event",
    });
    expect(marchEvent.value.data).toMatchObject({
      summary: {
        corrections: [
          { month: '2026-02', supersedes: february!.digest, digest: march!.corrections[0]!.digest },
        ],
      },
    });
    // The snapshot of January is still what was issued first.
    const stored = await db.pool.query<{ digest: string }>(
      `SELECT digest FROM issued_reports WHERE month = '2026-01'`,
    );
    expect(stored.rows[0]!.digest).toBe(january.digest);
  });

  test('after downtime every missed month is issued, oldest first, each once', async () => {
    const issued = await issue('2026-07-02T09:00:00+08:00');
    expect(issued!.map((r) => r.month)).toEqual(['2026-04', '2026-05', '2026-06']);
    const rows = await reportOutboxRows(db);
    expect(rows.map((r) => r.message_key)).toEqual([
      '2026-01',
      '2026-02',
      '2026-03',
      '2026-04',
      '2026-05',
      '2026-06',
    ]);
    await waitFor(() => recordsOf('2026-06').length === 1, { what: "June's event" });
    for (const month of ['2026-01', '2026-02', '2026-03', '2026-04', '2026-05']) {
      expect(recordsOf(month)).toHaveLength(1);
    }
  });
});

describe('the scheduler role with the real clock', () => {
  let db: OwnDatabase;
  const started: InProcessScheduler[] = [];
  const zone = 'Asia/Shanghai';
  // The month the role issues on first start now (issued at 01:00 on the 1st in Shanghai).
  const schedule = { zone, day: 1, hour: 1 };
  const latest = latestIssuableMonth(Date.now(), schedule);
  const start = () =>
    startInProcess(db.url, schedulerTopics('report_issue_role'), {
      REPORT_ISSUE_ENABLED: 'true',
      KAFKA_TOPIC_REPORTS: reportsTopic,
      REPORT_TIME_ZONE: zone,
    }).then((s) => (started.push(s), s));

  beforeAll(async () => {
    db = await ownDatabase('report_issue_role');
    // Records in the latest closed month and the one before: only the latest is issued.
    await insertIncident(db.pool, {
      id: 'OLD',
      reportedAt: at(`${addMonths(latest, -1)}-15T12:00:00+08:00`),
    });
    await insertIncident(db.pool, { id: 'NEW', reportedAt: at(`${latest}-15T12:00:00+08:00`) });
  });

  afterAll(async () => {
    for (const s of started) await s.stop().catch(() => undefined);
    await db?.drop();
  });

  test('two instances started together issue the last closed month once; a restart issues nothing', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    await Promise.all([a.issuer!.settled(), b.issuer!.settled()]);
    await waitFor(() => recordsOf(latest).length > 0, { what: `${latest} on the reports topic` });

    const issued = await db.pool.query<{ month: string }>('SELECT month FROM issued_reports');
    expect(issued.rows).toEqual([{ month: latest }]);
    expect(await reportOutboxRows(db)).toHaveLength(1);

    await a.stop();
    await b.stop();
    const again = await start();
    await again.issuer!.settled();
    await again.relay.settled();
    expect((await db.pool.query('SELECT month FROM issued_reports')).rows).toEqual([
      { month: latest },
    ]);
    expect(await reportOutboxRows(db)).toHaveLength(1);
    // The topic is shared with the other describe block, which issues 2026 months only up to June.
    expect(recordsOf(latest)).toHaveLength(1);
  });
});
