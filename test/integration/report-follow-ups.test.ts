/**
 * The monthly report's follow-up section (§4.5.7.6 回访; README "Monthly report, follow-ups")
 * against hand-computed figures: events on a real Kafka topic, the projector in process against a
 * real Postgres (so the milestone rows are what the domain computes), and the read API on a manual
 * clock. Months in Asia/Shanghai: October 2026 is [2026-09-30T16:00Z, 2026-10-31T16:00Z).
 *
 *   incident  handled (resolved)                follow-up                     October counts
 *   F1        10-10 04:00Z                      10-11 phone, 5                done, on time
 *   F2        10-20 00:00Z                      10-24 form, 3 (96 h: late)    done, late
 *   F3        10-25 00:00Z                      none                          missed
 *   F4        10-31 15:59:59Z (Oct 31 23:59:59)  11-01 00:30 Shanghai visit, 1 done, on time; score in Nov
 *   F5        10-31 16:00Z (Nov 1 00:00)        none                          (November: missed)
 *   F6        10-05, reopened 10-06, 10-07      10-08 phone, 4                cycle 0 not counted;
 *                                                                           cycle 1 done, on time
 *   F7        10-12, cancelled 10-13            10-12 phone, 1                nowhere (cancelled)
 *   F8        10-31 10:00Z                      none                          pending (at 11-01 00:00Z)
 *   F9        10-15 00:00Z                      10-15 phone, no score         done, on time
 *
 * October: due 7 = done 5 (on time 4) + missed 1 + pending 1; rate 5 / 6 = 83.3 %; satisfaction
 * from F1, F2, F6 (F4's score is November's, F7 is cancelled, F9 gave none): 3 responses, mean 4.
 */
import { csvSection } from '../helpers/csv';
import { createTopics, waitFor } from '../helpers/infra';
import {
  RawProducer,
  count,
  ev,
  ownDatabase,
  projectorTopics,
  startProjector,
  type InProcessProjector,
  type OwnDatabase,
  type ProjectorTopics,
  type TestEvent,
} from './fixtures/projector-data';
import { manualClock, readServer, type ReadServer } from './fixtures/read-data';

jest.setTimeout(120_000);

const H = 3600_000;
const at = (iso: string) => Date.parse(iso);
let db: OwnDatabase;
let topics: ProjectorTopics;
let producer: RawProducer;
let projector: InProcessProjector;
let server: ReadServer;
const clock = manualClock(at('2026-11-01T00:00:00Z'));
const run = Date.now().toString(36);
const id = (name: string) => `${name}-${run}`;

function handled(
  name: string,
  resolvedAt: string,
  ...more: [type: string, time: string, data?: Record<string, unknown>][]
): TestEvent[] {
  const subject = id(name);
  return [
    ev(subject, 'incident.reported', at(resolvedAt) - 2 * H, { severity: 'III', title: name }),
    ev(subject, 'incident.resolved', at(resolvedAt)),
    ...more.map(([type, time, data]) => ev(subject, type, at(time), data ?? {})),
  ];
}

const phone = (satisfaction?: number) => ({
  channel: 'phone',
  ...(satisfaction === undefined ? {} : { satisfaction }),
});

beforeAll(async () => {
  db = await ownDatabase('report_follow_ups');
  topics = projectorTopics('followups');
  await createTopics([topics.events, topics.dlq]);
  producer = new RawProducer();
  projector = await startProjector(db, topics);
  server = await readServer(db.pool, clock, 'Asia/Shanghai');
  const events = [
    ...handled('F1', '2026-10-10T04:00:00Z', [
      'incident.followed_up',
      '2026-10-11T02:00:00Z',
      phone(5),
    ]),
    ...handled('F2', '2026-10-20T00:00:00Z', [
      'incident.followed_up',
      '2026-10-24T00:00:00Z',
      { channel: 'form', satisfaction: 3 },
    ]),
    ...handled('F3', '2026-10-25T00:00:00Z'),
    ...handled('F4', '2026-10-31T15:59:59Z', [
      'incident.followed_up',
      '2026-10-31T16:30:00Z',
      { channel: 'visit', satisfaction: 1 },
    ]),
    ...handled('F5', '2026-10-31T16:00:00Z'),
    ...handled(
      'F6',
      '2026-10-05T00:00:00Z',
      ['incident.reopened', '2026-10-06T00:00:00Z', { reason: 'failed again' }],
      ['incident.resolved', '2026-10-07T00:00:00Z'],
      ['incident.followed_up', '2026-10-08T00:00:00Z', phone(4)],
    ),
    ...handled(
      'F7',
      '2026-10-12T00:00:00Z',
      ['incident.followed_up', '2026-10-12T12:00:00Z', phone(1)],
      ['incident.cancelled', '2026-10-13T00:00:00Z', { reason: 'duplicate' }],
    ),
    ...handled('F8', '2026-10-31T10:00:00Z'),
    ...handled('F9', '2026-10-15T00:00:00Z', [
      'incident.followed_up',
      '2026-10-15T06:00:00Z',
      phone(),
    ]),
  ];
  await producer.send(topics.events, events);
  await waitFor(
    async () =>
      (await count(db.pool, 'SELECT count(*) AS n FROM incident_events')) === events.length,
    { what: `${events.length} events applied` },
  );
});

afterAll(async () => {
  await server?.app.close();
  await projector?.stop();
  await producer?.close();
  await db?.drop();
});

async function report(month: string, generatedAt: string, format = 'json') {
  clock.set(at(generatedAt));
  const res = await server.app.inject({
    url: `/v1/reports/monthly?month=${month}&format=${format}`,
    headers: server.auth.read,
  });
  expect(res.statusCode).toBe(200);
  return res;
}

test('October 2026 (Asia/Shanghai): owed, done, missed, pending, rate and satisfaction', async () => {
  const r = (await report('2026-10', '2026-11-01T00:00:00Z')).json<{ followUps: unknown }>();
  expect(r.followUps).toEqual({
    due: 7,
    followedUp: 5,
    onTime: 4,
    missed: 1,
    pending: 1,
    ratePct: 83.3,
    satisfaction: { responses: 3, mean: 4 },
  });
});

test('the month boundary: handled at 00:00 Shanghai is November; a score given then too', async () => {
  const r = (await report('2026-11', '2026-11-05T00:00:00Z')).json<{ followUps: unknown }>();
  expect(r.followUps).toEqual({
    due: 1,
    followedUp: 0,
    onTime: 0,
    missed: 1,
    pending: 0,
    ratePct: 0,
    satisfaction: { responses: 1, mean: 1 },
  });
});

test('pending turns missed once its 72 h passed (F8), without any new event', async () => {
  const r = (await report('2026-10', '2026-11-04T00:00:00Z')).json<{
    followUps: { missed: number; pending: number; ratePct: number };
  }>();
  expect(r.followUps).toMatchObject({ missed: 2, pending: 0, ratePct: 71.4 });
});

test('CSV: the same figures, the rate and the mean in the value column', async () => {
  const csv = (await report('2026-10', '2026-11-01T00:00:00Z', 'csv')).body;
  const cells = (section: string) => csvSection(csv, section, ['count', 'value']);
  expect(cells('follow_ups_due')).toEqual({ count: '7', value: '' });
  expect(cells('follow_ups_done')).toEqual({ count: '5', value: '' });
  expect(cells('follow_ups_on_time')).toEqual({ count: '4', value: '' });
  expect(cells('follow_ups_missed')).toEqual({ count: '1', value: '' });
  expect(cells('follow_ups_pending')).toEqual({ count: '1', value: '' });
  expect(cells('follow_up_rate_pct')).toEqual({ count: '', value: '83.3' });
  expect(cells('satisfaction_mean')).toEqual({ count: '3', value: '4' });
});
