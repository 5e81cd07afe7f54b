/**
 * Inspection obligations (issue 15 item 5) through the service's own roles (startApp: api,
 * projector, scheduler), the real broker and Postgres: a schedule created over HTTP with an admin
 * key; its warning and breach on the SLA topics (`data.obligation: "inspection"`, keyed by site);
 * `inspection.completed` posted to POST /v1/events meets it (and retracts a breach it proves
 * wrong); the read API lists due and done inspections; the monthly report counts them.
 */
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { DateTime } from 'luxon';
import { loadConfig } from '../../src/config';
import type { InspectionView } from '../../src/contracts/inspections';
import type { MonthlyReport } from '../../src/contracts/read';
import { createContext, startApp, type RunningApp } from '../../src/composition';
import { createApiKey } from '../../src/http/api-keys';
import { createLogger } from '../../src/infra/logger';
import { createTopics, testConfig, uniqueTopic, waitFor } from '../helpers/infra';
import { ownDatabase, type OwnDatabase } from './fixtures/projector-data';

jest.setTimeout(120_000);

let db: OwnDatabase;
let app: RunningApp;
let consumer: Consumer;
const auth: Record<'admin' | 'read' | 'write', string> = { admin: '', read: '', write: '' };
const topics = {
  KAFKA_TOPIC_EVENTS: uniqueTopic('insp.events'),
  KAFKA_TOPIC_DLQ: uniqueTopic('insp.dlq'),
  KAFKA_TOPIC_WARNINGS: uniqueTopic('insp.warnings'),
  KAFKA_TOPIC_ESCALATIONS: uniqueTopic('insp.escalations'),
};

interface Received {
  topic: string;
  key: string | null;
  event: {
    id: string;
    type: string;
    subject: string;
    data: Record<string, unknown> & { inspectionId?: string };
  };
}
const received: Received[] = [];

beforeAll(async () => {
  db = await ownDatabase('i15_inspect');
  await createTopics(Object.values(topics));
  const keys = {
    admin: createApiKey(['admin'], 'insp-admin'),
    read: createApiKey(['incidents:read'], 'insp-read'),
    write: createApiKey(['events:write'], 'insp-write'),
  };
  for (const k of ['admin', 'read', 'write'] as const) auth[k] = `Bearer ${keys[k].token}`;
  const config = loadConfig({
    ...topics,
    ROLES: 'api,projector,scheduler',
    HTTP_PORT: '0',
    DATABASE_URL: db.url,
    KAFKA_BROKERS: testConfig().brokers.join(','),
    PROJECTOR_GROUP_ID: uniqueTopic('insp.group'),
    API_KEYS: Object.values(keys)
      .map((k) => k.configEntry)
      .join(','),
    REPORT_TIME_ZONE: 'Asia/Shanghai',
    // Not under test here: on a loaded machine a lagging event loop would shed a POST (503).
    LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
  });
  app = await startApp(createContext(config, createLogger('silent')));

  const kafka = new Kafka({
    clientId: 'insp-test',
    brokers: testConfig().brokers,
    logLevel: logLevel.NOTHING,
  });
  consumer = kafka.consumer({ groupId: uniqueTopic('insp.reader'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({
    topics: [topics.KAFKA_TOPIC_WARNINGS, topics.KAFKA_TOPIC_ESCALATIONS],
    fromBeginning: true,
  });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      received.push({
        topic,
        key: message.key?.toString() ?? null,
        event: JSON.parse(message.value!.toString()) as Received['event'],
      });
    },
  });
});

afterAll(async () => {
  await consumer?.disconnect();
  await app?.stop();
  await db?.drop();
});

/** The parts of the answers the tests read (schedule, list, problem). */
type Answer = {
  inspections: InspectionView[];
  items: InspectionView[];
  details: { path: string; message: string }[];
} & Record<string, unknown>;

async function call<T = Answer>(
  method: 'GET' | 'POST',
  url: string,
  key: keyof typeof auth,
  body?: unknown,
): Promise<{ status: number; json: T }> {
  const res = await fetch(`http://${app.address}${url}`, {
    method,
    headers: {
      authorization: auth[key],
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : null) as T };
}

/** POSTs an event and expects 202 (a failure shows the answer's body). */
async function accepted(event: unknown): Promise<void> {
  expect(await call('POST', '/v1/events', 'write', event)).toMatchObject({ status: 202 });
}

let seq = 0;
const uniq = (label: string) => `${label}-${Date.now().toString(36)}-${(seq += 1)}`;

function completed(inspectionId: string, time: number, reportRef = 'RPT-1') {
  return {
    specversion: '1.0',
    id: uniq('done'),
    source: '/field-app',
    type: 'inspection.completed',
    subject: inspectionId,
    time: new Date(time).toISOString(),
    data: { site: '长葛 data centre', inspectionId, reportRef },
  };
}

const about = (inspectionId: string, type: string) =>
  received.filter((r) => r.event.type === type && r.event.data.inspectionId === inspectionId);

async function inspection(id: string) {
  const res = await call(
    'GET',
    `/v1/inspections?scheduleId=${encodeURIComponent(id.split(':')[0]!)}`,
    'read',
  );
  expect(res.status).toBe(200);
  return (
    res.json.items as { inspectionId: string; state: string; reportRef: string | null }[]
  ).find((i) => i.inspectionId === id);
}

test('an inspection due in seconds warns at once, breaches at its deadline, keyed by site; a late completion proving it done in time retracts the breach', async () => {
  const scheduleId = uniq('cny');
  const dueAt = Date.now() + 3_000;
  const res = await call('POST', '/v1/inspection-schedules', 'admin', {
    id: scheduleId,
    site: '长葛 data centre',
    customer: 'Acme',
    quarterly: false,
    dates: [{ id: 'eve', dueAt: new Date(dueAt).toISOString(), label: '春节' }],
  });
  expect(res.status).toBe(201);
  const id = `${scheduleId}:eve`;
  expect(res.json.inspections).toEqual([
    expect.objectContaining({ inspectionId: id, kind: 'listed', state: 'warned', label: '春节' }),
  ]);

  // The default lead (P14D) passed already: the warning fires at once, the deadline still ahead.
  const [warning] = await waitFor(
    () => about(id, 'sla.warning').length === 1 && about(id, 'sla.warning'),
    {
      what: 'the warning',
      timeoutMs: 30_000,
    },
  );
  expect(warning!.topic).toBe(topics.KAFKA_TOPIC_WARNINGS);
  expect(warning!.key).toBe('长葛 data centre');
  expect(warning!.event.subject).toBe('长葛 data centre');
  expect(warning!.event.data).toMatchObject({
    obligation: 'inspection',
    inspectionId: id,
    scheduleId,
    site: '长葛 data centre',
    customer: 'Acme',
    threshold: 'P14D',
    dueAt: new Date(dueAt).toISOString(),
    tier: 2,
  });

  const [breach] = await waitFor(
    () => about(id, 'sla.breached').length === 1 && about(id, 'sla.breached'),
    {
      what: 'the breach',
      timeoutMs: 30_000,
    },
  );
  expect(breach!.topic).toBe(topics.KAFKA_TOPIC_ESCALATIONS);
  expect(breach!.key).toBe('长葛 data centre');
  expect(breach!.event.data).toMatchObject({ obligation: 'inspection', inspectionId: id, tier: 2 });
  // Never early: detected at or after the deadline.
  expect(Date.parse(breach!.event.data.breachedAt as string)).toBeGreaterThanOrEqual(dueAt);
  expect((await inspection(id))?.state).toBe('breached');

  // The field app reports late that the inspection was done a second before the deadline.
  await accepted(completed(id, dueAt - 1_000));
  const [retraction] = await waitFor(
    () => about(id, 'sla.breach_retracted').length === 1 && about(id, 'sla.breach_retracted'),
    { what: 'the retraction', timeoutMs: 30_000 },
  );
  expect(retraction!.event.data).toMatchObject({
    obligation: 'inspection',
    retracts: breach!.event.id,
    metAt: new Date(dueAt - 1_000).toISOString(),
  });
  expect(await inspection(id)).toMatchObject({ state: 'met', reportRef: 'RPT-1' });
});

test('completed before its deadline: listed as done, its timers gone, nothing fires', async () => {
  const scheduleId = uniq('event');
  const dueAt = Date.now() + 3_600_000;
  const res = await call('POST', '/v1/inspection-schedules', 'admin', {
    id: scheduleId,
    customer: 'Acme',
    quarterly: false,
    warnBefore: 'PT30M',
    dates: [{ dueAt: new Date(dueAt).toISOString(), label: 'board meeting' }],
  });
  expect(res.status).toBe(201);
  const [created] = res.json.inspections;
  const id = created!.inspectionId;
  expect(created!.state).toBe('pending');
  const timers = async () =>
    (
      await db.pool.query(`SELECT kind FROM timers WHERE incident_id = $1 ORDER BY kind`, [
        `inspection/${id}`,
      ])
    ).rows.map((r: { kind: string }) => r.kind);
  expect(await timers()).toEqual(['breach', 'warning']);

  await accepted(completed(id, Date.now() - 1_000, 'RPT-2'));
  await waitFor(async () => (await inspection(id))?.state === 'met', {
    what: 'met',
    timeoutMs: 30_000,
  });
  expect(await timers()).toEqual([]);
  const done = await call('GET', `/v1/inspections?scheduleId=${scheduleId}&status=done`, 'read');
  expect(done.json.items).toEqual([
    expect.objectContaining({
      inspectionId: id,
      state: 'met',
      reportRef: 'RPT-2',
      customer: 'Acme',
      site: null,
    }),
  ]);
  const due = await call('GET', `/v1/inspections?scheduleId=${scheduleId}&status=due`, 'read');
  expect(due.json.items).toEqual([]);
});

test('quarterly by default: four quarters from today, due at each quarter end in the report zone; created once', async () => {
  const scheduleId = uniq('q');
  const body = { id: scheduleId, site: 'HQ' };
  const res = await call('POST', '/v1/inspection-schedules', 'admin', body);
  expect(res.status).toBe(201);
  const q = DateTime.now().setZone('Asia/Shanghai').startOf('quarter');
  const expected = [1, 2, 3, 4].map((n) => ({
    inspectionId: `${scheduleId}:${q.plus({ quarters: n - 1 }).year}-Q${q.plus({ quarters: n - 1 }).quarter}`,
    dueAt: q.plus({ quarters: n }).toUTC().toISO(),
    warnAt: q.plus({ quarters: n }).minus({ days: 14 }).toUTC().toISO(),
  }));
  expect(
    res.json.inspections.map((i) => ({
      inspectionId: i.inspectionId,
      dueAt: i.dueAt,
      warnAt: i.warnAt,
    })),
  ).toEqual(expected);
  expect(res.json).toMatchObject({
    quarterly: true,
    timeZone: 'Asia/Shanghai',
    warnBefore: 'P14D',
    escalatesToTier: 2,
  });

  // The same document again: 200 and the same schedule; another document: 409.
  const again = await call('POST', '/v1/inspection-schedules', 'admin', body);
  expect(again.status).toBe(200);
  expect(again.json.inspections).toHaveLength(4);
  const other = await call('POST', '/v1/inspection-schedules', 'admin', {
    ...body,
    site: 'elsewhere',
  });
  expect(other.status).toBe(409);
  expect(
    (await call('GET', `/v1/inspection-schedules/${scheduleId}`, 'read')).json.inspections,
  ).toHaveLength(4);
  expect((await call('GET', '/v1/inspection-schedules/nope', 'read')).status).toBe(404);

  // The monthly report of the first deadline's month counts it as open (due, not done yet).
  const month = DateTime.fromISO(expected[0]!.dueAt!).setZone('Asia/Shanghai').toFormat('yyyy-MM');
  const report = await call<MonthlyReport>('GET', `/v1/reports/monthly?month=${month}`, 'read');
  expect(report.status).toBe(200);
  expect(report.json.inspections.bySite).toContainEqual(
    expect.objectContaining({ site: 'HQ', due: 1, open: 1, metOnTime: 0, breached: 0 }),
  );
});

test('bad schedules are 400s naming the field; only an admin key creates one', async () => {
  const post = (body: unknown, key: keyof typeof auth = 'admin') =>
    call('POST', '/v1/inspection-schedules', key, body);
  const details = async (body: unknown) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    return (res.json.details as { path: string }[]).map((d) => d.path);
  };
  expect(await details({ quarterly: true })).toEqual(['site']);
  expect(await details({ site: 'HQ', warnBefore: 'P1M' })).toEqual(['warnBefore']);
  expect(
    await details({ site: 'HQ', dates: [{ dueAt: '2020-01-01T00:00:00Z', label: 'past' }] }),
  ).toEqual(['dates.0.dueAt']);
  expect(await details({ site: 'HQ', from: '2027-01-01', until: '2026-01-01' })).toEqual(['until']);
  expect(await details({ site: 'HQ', colour: 'red' })).toEqual(['colour']);
  const soon = new Date(Date.now() + 86_400_000).toISOString();
  expect(
    await details({
      site: 'HQ',
      dates: [
        { dueAt: soon, label: 'a' },
        { dueAt: soon, label: 'b' },
      ],
    }),
  ).toEqual(['dates.1.id']);
  expect((await post({ site: 'HQ' }, 'read')).status).toBe(403);
  expect((await post({ site: 'HQ' }, 'write')).status).toBe(403);
});

test('an inspection.completed missing its inspectionId is a 400 naming it', async () => {
  const bad = completed('x:y', Date.now());
  const res = await call('POST', '/v1/events', 'write', { ...bad, data: { site: 'HQ' } });
  expect(res.status).toBe(400);
  expect(res.json.details).toEqual([expect.objectContaining({ path: 'data.inspectionId' })]);
});

test("a site named like an incident: the inspection's events stay out of the incident's timeline", async () => {
  const site = uniq('INC-SITE');
  const scheduleId = uniq('same-name');
  const created = await call('POST', '/v1/inspection-schedules', 'admin', {
    id: scheduleId,
    site,
    quarterly: false,
    dates: [{ id: 'x', dueAt: new Date(Date.now() + 3_600_000).toISOString(), label: 'audit' }],
  });
  expect(created.status).toBe(201);
  const reported = {
    specversion: '1.0',
    id: uniq('rep'),
    source: '/servicedesk',
    type: 'incident.reported',
    subject: site,
    time: new Date(Date.now() - 1_000).toISOString(),
    data: { severity: 'IV', title: 'Printer', site },
  };
  await accepted(reported);
  // The warning (its lead has passed) is on Kafka, keyed by the site = the incident's id.
  await waitFor(() => about(`${scheduleId}:x`, 'sla.warning').length === 1, {
    what: 'the warning',
    timeoutMs: 30_000,
  });
  const timeline = await waitFor(
    async () => {
      const res = await call<{ entries: { type: string }[] }>(
        'GET',
        `/v1/incidents/${site}/timeline`,
        'read',
      );
      return res.status === 200 && res.json.entries;
    },
    { what: 'the incident projected', timeoutMs: 30_000 },
  );
  expect(timeline.map((e) => e.type)).toEqual(['incident.reported']);
});

test('the monthly report counts inspections due in the month (Asia/Shanghai boundaries), by hand', async () => {
  const s1 = uniq('rep-s1');
  const c2 = uniq('rep-c2');
  const schedule = (id: string, site: string | null, customer: string | null) =>
    db.pool.query(
      `INSERT INTO inspection_schedules (schedule_id, site, customer, time_zone, quarterly,
         from_date, until_date, warn_before, escalates_to_tier, document)
       VALUES ($1, $2, $3, 'Asia/Shanghai', false, '2026-08-01', '2026-10-31', 'P14D', 2, '{}')`,
      [id, site, customer],
    );
  await schedule(s1, 'Report site', null);
  await schedule(c2, null, 'Report customer');
  const rows: [string, string, string, string | null][] = [
    // [schedule, inspection, due, completed]
    [s1, 'a', '2026-08-31T15:59:59Z', null], // Aug 31 23:59:59 in Shanghai: August
    [s1, 'b', '2026-08-31T16:00:00Z', '2026-08-30T00:00:00Z'], // Sep 1 00:00: met
    [s1, 'c', '2026-09-15T00:00:00Z', '2026-09-16T00:00:00Z'], // met late
    [s1, 'd', '2026-09-30T15:59:59Z', null], // breached
    [s1, 'e', '2026-09-30T16:00:00Z', null], // Oct 1 00:00: October
    [c2, 'f', '2026-09-10T00:00:00Z', '2026-09-09T00:00:00Z'], // met (customer-wide)
  ];
  for (const [scheduleId, id, due, done] of rows) {
    await db.pool.query(
      `INSERT INTO inspections (inspection_id, schedule_id, kind, label, due_at)
       VALUES ($1, $2, 'listed', $3, $4)`,
      [`${scheduleId}:${id}`, scheduleId, id, due],
    );
    if (done) {
      await db.pool.query(
        `INSERT INTO inspection_completions (source, event_id, inspection_id, site, completed_at,
           time, kafka_partition, kafka_offset)
         VALUES ('/test', $1, $1, 'x', $2, $2, 0, 0)`,
        [`${scheduleId}:${id}`, done],
      );
    }
  }
  const report = await call<MonthlyReport>('GET', '/v1/reports/monthly?month=2026-09', 'read');
  expect(report.status).toBe(200);
  const counts = (due: number, met: number, breached: number, late: number, pct: number) => ({
    due,
    metOnTime: met,
    breached,
    metLate: late,
    open: 0,
    compliancePct: pct,
  });
  expect(report.json.inspections).toEqual({
    ...counts(4, 2, 2, 1, 50),
    bySite: [
      { site: 'Report site', customer: null, ...counts(3, 1, 2, 1, 33.3) },
      { site: null, customer: 'Report customer', ...counts(1, 1, 0, 0, 100) },
    ],
  });
  const csv = await fetch(`http://${app.address}/v1/reports/monthly?month=2026-09&format=csv`, {
    headers: { authorization: auth.read },
  }).then((r) => r.text());
  expect(csv.split('\r\n').filter((l) => l.startsWith('inspections,'))).toEqual([
    'inspections,,,,4,2,2,0,,50,,,overall,,,,,,',
    'inspections,,,,3,1,2,0,,33.3,,,site,,Report site,,,,',
    'inspections,,,,1,1,0,0,,100,,,customer,Report customer,,,,,',
  ]);

  // The list's done/due filter (SQL) agrees with the state rule (domain inspectionStateAt).
  const listed = async (status: string) =>
    (await call('GET', `/v1/inspections?scheduleId=${s1}&status=${status}`, 'read')).json.items.map(
      (i) => [i.inspectionId.slice(s1.length + 1), i.state],
    );
  expect(await listed('done')).toEqual([
    ['b', 'met'],
    ['c', 'met_late'],
  ]);
  expect(await listed('due')).toEqual([
    ['a', 'breached'],
    ['d', 'breached'],
    ['e', 'breached'],
  ]);
});

test('a completion that arrives before its schedule meets the inspection once the schedule exists', async () => {
  const scheduleId = uniq('early');
  const id = `${scheduleId}:visit`;
  await accepted(completed(id, Date.now() - 1_000, 'RPT-E'));
  await waitFor(
    async () =>
      (await db.pool.query('SELECT 1 FROM inspection_completions WHERE inspection_id = $1', [id]))
        .rowCount === 1,
    { what: 'the completion recorded', timeoutMs: 30_000 },
  );
  const res = await call('POST', '/v1/inspection-schedules', 'admin', {
    id: scheduleId,
    site: 'HQ',
    quarterly: false,
    dates: [{ id: 'visit', dueAt: new Date(Date.now() + 3_600_000).toISOString(), label: 'visit' }],
  });
  expect(res.json.inspections).toEqual([
    expect.objectContaining({ inspectionId: id, state: 'met', reportRef: 'RPT-E' }),
  ]);
  // Its warning (lead passed) comes due at once and is skipped, not sent.
  const fired = await waitFor(
    async () =>
      (
        await db.pool.query<{ kind: string; skipped_reason: string | null }>(
          'SELECT kind, skipped_reason FROM timer_fires WHERE incident_id = $1',
          [`inspection/${id}`],
        )
      ).rows[0],
    { what: 'the warning timer decided', timeoutMs: 30_000 },
  );
  expect(fired).toEqual({ kind: 'warning', skipped_reason: 'inspection_done' });
  expect(about(id, 'sla.warning')).toEqual([]);
});

test('the schedules are listed by id, a page at a time, of a site or customer when asked', async () => {
  const customer = uniq('list-customer');
  const ids = ['b', 'a', 'c'].map((x) => `${customer}-${x}`);
  for (const [n, id] of ids.entries()) {
    const res = await call('POST', '/v1/inspection-schedules', 'admin', {
      id,
      customer,
      site: n === 2 ? `${customer}-plant` : undefined,
    });
    expect(res.status).toBe(201);
  }
  type Page = { items: { id: string }[]; next: string | null; details: { path: string }[] };
  const list = (query: string) => call<Page>('GET', `/v1/inspection-schedules?${query}`, 'read');

  // By id, two per page: a full page names the last id to continue after; the last page none.
  const first = await list(`customer=${customer}&limit=2`);
  expect(first.status).toBe(200);
  expect(first.json.items.map((s) => s.id)).toEqual([ids[1], ids[0]]);
  expect(first.json.next).toBe(ids[0]);
  expect(first.json.items[0]).toEqual({
    id: ids[1],
    site: null,
    customer,
    timeZone: 'Asia/Shanghai',
    quarterly: true,
    from: expect.any(String),
    until: expect.any(String),
    warnBefore: 'P14D',
    escalatesToTier: 2,
    createdAt: expect.any(String),
    createdBy: expect.any(String),
  });
  const second = await list(`customer=${customer}&limit=2&after=${first.json.next}`);
  expect(second.json).toEqual({ items: [expect.objectContaining({ id: ids[2] })], next: null });

  // Of a site.
  const site = await list(`site=${customer}-plant`);
  expect(site.json.items.map((s) => s.id)).toEqual([ids[2]]);

  // Bad paging is a 400 naming the parameter; reading needs a key.
  const bad = await list('limit=0');
  expect(bad.status).toBe(400);
  expect(bad.json.details).toEqual([expect.objectContaining({ path: 'limit' })]);
  const anonymous = await fetch(`http://${app.address}/v1/inspection-schedules`);
  expect(anonymous.status).toBe(401);
});
