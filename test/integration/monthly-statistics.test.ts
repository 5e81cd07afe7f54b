/**
 * Seed §4.5.3.6 monthly statistics end to end (issue 15 items 1–2): cost and effort events posted
 * over HTTP to the service's own api and projector roles (startApp), the real broker and Postgres,
 * then GET /v1/reports/monthly as JSON and CSV, compared with sums computed by hand below.
 *
 * Months are Asia/Shanghai's: October 2026 is [2026-09-30T16:00Z, 2026-10-31T16:00Z), 31 days.
 * Three events sit next to its boundaries and land in the month their Shanghai date says (a UTC
 * month would place each of them the other way).
 */
import type { MonthlyReport } from '../../src/contracts/read';
import type { RunningApp } from '../../src/composition';
import { waitFor } from '../helpers/infra';
import type { OwnDatabase } from './fixtures/projector-data';
import { startTestService, type TestService } from './fixtures/service';

jest.setTimeout(90_000);

let service: TestService;
let db: OwnDatabase;
let app: RunningApp;
let authorization: string;

beforeAll(async () => {
  service = await startTestService('i15_report_stats', {
    REPORT_TIME_ZONE: 'Asia/Shanghai',
    // The history below is a few months old.
    INGEST_MAX_EVENT_AGE_MS: String(400 * 24 * 3600 * 1000),
  });
  ({ db, app, authorization } = service);
  await postAll(EVENTS);
  await waitFor(
    async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM incident_events`,
      );
      return rows[0]!.n === EVENTS.length;
    },
    { what: 'every event projected', timeoutMs: 60_000 },
  );
});

afterAll(async () => {
  await service?.stop();
});

// ---------------------------------------------------------------------------------------------
// The month's events

const MIN = 60_000;
const cny = (amount: number) => ({ amount, currency: 'CNY' });
let seq = 0;
const EVENTS: Record<string, unknown>[] = [];
function at(subject: string, time: string, offsetMin: number, type: string, data: object = {}) {
  EVENTS.push({
    specversion: '1.0',
    id: `stats-${++seq}`,
    source: '/itest',
    type,
    subject,
    time: new Date(Date.parse(time) + offsetMin * MIN).toISOString(),
    data,
  });
}

// A: after-sales, Acme at 长葛 DC, reported 00:05 on 1 October in Shanghai (30 September in UTC).
// Every milestone met in time (the follow-up call the next day too); spare parts came within
// 24 h, so their clock never started.
const A = '2026-10-01T00:05:00+08:00';
at('INC-A', A, 0, 'incident.reported', {
  severity: 'III',
  title: 'Core switch down',
  customer: 'Acme',
  site: '长葛 DC',
});
at('INC-A', A, 3, 'incident.acknowledged');
at('INC-A', A, 8, 'incident.dispatched', {
  engineers: ['Wang', 'Zhao'],
  days: 2,
  travelCost: cny(120000),
});
at('INC-A', A, 15, 'incident.arrived', { engineer: 'Wang', travelCost: cny(35050) });
at('INC-A', A, 30, 'incident.diagnosed', { cause: 'PSU' });
at('INC-A', A, 60, 'incident.solution_provided', { kind: 'solution' });
at('INC-A', A, 90, 'incident.spare_parts_provided', {
  parts: ['PSU-750W'],
  materialCost: cny(89900),
  transportCost: cny(1500),
});
at('INC-A', A, 120, 'incident.resolved');
at('INC-A', A, 24 * 60, 'incident.followed_up', { channel: 'phone', satisfaction: 5 });
// 23:50 on 31 October in Shanghai: October. 00:10 on 1 November: November (UTC: still October).
at('INC-A', '2026-10-31T23:50:00+08:00', 0, 'incident.cost_recorded', {
  kind: 'transport',
  ...cny(2000),
});
at('INC-A', '2026-11-01T00:10:00+08:00', 0, 'incident.cost_recorded', {
  kind: 'material',
  ...cny(50000),
  note: 'spare fan',
});

// B: installation for Acme at 许昌 office: everything done for it is installation. Arrival late
// (IV: 20 min), diagnosis and solution never came (2 h): three breaches; response, dispatch and
// the follow-up visit met.
const B = '2026-10-15T10:00:00+08:00';
at('INC-B', B, 0, 'incident.reported', {
  severity: 'IV',
  title: 'New rack',
  customer: 'Acme',
  site: '许昌 office',
  serviceKind: 'installation',
});
at('INC-B', B, 2, 'incident.acknowledged');
at('INC-B', B, 10, 'incident.dispatched', { persons: 3, days: 5, travelCost: cny(300000) });
at('INC-B', B, 60, 'incident.arrived', { travelCost: cny(10000) });
at('INC-B', B, 70, 'incident.cost_recorded', { kind: 'material', ...cny(70000) });
at('INC-B', B, 180, 'incident.resolved');
at('INC-B', B, 300, 'incident.followed_up', { channel: 'visit' });

// C: after-sales for Beta (no site), cancelled: counts in no incident figure, but its costs were
// spent. A dispatch naming nobody sent one person; installation work recorded on it.
const C = '2026-10-20T09:00:00+08:00';
at('INC-C', C, 0, 'incident.reported', { severity: 'II', title: 'Alarm', customer: 'Beta' });
at('INC-C', C, 4, 'incident.dispatched');
at('INC-C', C, 20, 'incident.cost_recorded', {
  kind: 'other',
  amount: 4500,
  currency: 'EUR',
});
at('INC-C', C, 25, 'incident.cost_recorded', { kind: 'installation', ...cny(8000) });
at('INC-C', C, 30, 'incident.cancelled', { reason: 'false alarm' });

// D: Acme at 长葛 DC, reported and dispatched on 30 September in Shanghai; a transport cost
// recorded at 00:30 on 1 October counts in October.
const D = '2026-09-30T23:00:00+08:00';
at('INC-D', D, 0, 'incident.reported', {
  severity: 'IV',
  title: 'UPS alarm',
  customer: 'Acme',
  site: '长葛 DC',
});
at('INC-D', D, 10, 'incident.dispatched', { persons: 1 });
at('INC-D', D, 90, 'incident.cost_recorded', { kind: 'transport', ...cny(3000) });

async function postAll(events: unknown[]): Promise<void> {
  const res = await fetch(`http://${app.address}/v1/events`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });
  const body = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/events: ${res.status} ${body}`);
}

async function report(month: string, format = 'json'): Promise<Response> {
  return fetch(`http://${app.address}/v1/reports/monthly?month=${month}&format=${format}`, {
    headers: { authorization },
  });
}

// ---------------------------------------------------------------------------------------------
// Expected, by hand

const zero = { personTimes: 0, personTimesPerDay: 0, personDays: 0, cost: [] };

test('October overall: the §4.5.3.6 rows, installation apart and out of the total', async () => {
  const r = (await (await report('2026-10')).json()) as MonthlyReport;
  expect(r.from).toBe('2026-09-30T16:00:00.000Z');
  expect(r.statistics.days).toBe(31);
  expect(r.statistics.overall).toEqual({
    // B's 3 people for 5 days; B's travel (sent and arrived) and material, and C's recorded
    // installation
    installation: {
      personTimes: 3,
      personTimesPerDay: 0.1, // 3 / 31
      personDays: 15,
      cost: [{ currency: 'CNY', amount: 300000 + 10000 + 70000 + 8000 }],
    },
    // A's 2 engineers for 2 days and C's one person (D's dispatch was in September); A's travel
    // when sent and on arrival
    dispatch: {
      personTimes: 3,
      personTimesPerDay: 0.1,
      personDays: 5,
      cost: [{ currency: 'CNY', amount: 120000 + 35050 }],
    },
    material: [{ currency: 'CNY', amount: 89900 }],
    // A's parts shipped, A's on 31 October, D's on 1 October
    transport: [{ currency: 'CNY', amount: 1500 + 2000 + 3000 }],
    other: [{ currency: 'EUR', amount: 4500 }],
    totalAfterSales: [
      { currency: 'CNY', amount: 155050 + 89900 + 6500 },
      { currency: 'EUR', amount: 4500 },
    ],
  });
  // The field section counts the same people.
  expect(r.field).toEqual({ dispatches: 3, dispatchedEngineers: 6, onSiteVisits: 2 });
});

test('October per customer and per project (customer and site)', async () => {
  const r = (await (await report('2026-10')).json()) as MonthlyReport;
  const acmeStats = {
    installation: {
      personTimes: 3,
      personTimesPerDay: 0.1,
      personDays: 15,
      cost: [{ currency: 'CNY', amount: 380000 }],
    },
    dispatch: {
      personTimes: 2,
      personTimesPerDay: 0.06, // 2 / 31
      personDays: 4,
      cost: [{ currency: 'CNY', amount: 155050 }],
    },
    material: [{ currency: 'CNY', amount: 89900 }],
    transport: [{ currency: 'CNY', amount: 6500 }],
    other: [],
    totalAfterSales: [{ currency: 'CNY', amount: 251450 }],
  };
  const betaStats = {
    installation: { ...zero, cost: [{ currency: 'CNY', amount: 8000 }] },
    dispatch: { personTimes: 1, personTimesPerDay: 0.03, personDays: 1, cost: [] },
    material: [],
    transport: [],
    other: [{ currency: 'EUR', amount: 4500 }],
    totalAfterSales: [{ currency: 'EUR', amount: 4500 }],
  };
  expect(r.statistics.byCustomer).toEqual([
    // A: 6 met; B: 3 met, 3 breached (arrival late, diagnosis and solution never)
    {
      customer: 'Acme',
      incidents: 2,
      metOnTime: 9,
      breached: 3,
      compliancePct: 75,
      statistics: acmeStats,
    },
    // C was cancelled: no incident, no compliance; its costs count
    {
      customer: 'Beta',
      incidents: 0,
      metOnTime: 0,
      breached: 0,
      compliancePct: null,
      statistics: betaStats,
    },
  ]);
  expect(r.statistics.byProject).toEqual([
    {
      customer: 'Acme',
      site: '许昌 office',
      incidents: 1,
      metOnTime: 3,
      breached: 3,
      compliancePct: 50,
      statistics: {
        ...acmeStats,
        dispatch: zero,
        material: [],
        transport: [],
        totalAfterSales: [],
      },
    },
    {
      customer: 'Acme',
      site: '长葛 DC',
      incidents: 1,
      metOnTime: 6,
      breached: 0,
      compliancePct: 100,
      statistics: { ...acmeStats, installation: zero },
    },
    {
      customer: 'Beta',
      site: null,
      incidents: 0,
      metOnTime: 0,
      breached: 0,
      compliancePct: null,
      statistics: betaStats,
    },
  ]);
});

test('spare parts whose clock never started count nowhere (SPEC §2)', async () => {
  const r = (await (await report('2026-10')).json()) as MonthlyReport;
  expect(r.milestones.filter((m) => m.milestone === 'spare_parts')).toEqual([]);
  expect(r.milestones.find((m) => m.severity === 'all' && m.milestone === 'arrival')).toMatchObject(
    { count: 2, metOnTime: 1, breached: 1 },
  );
});

test('November: only the cost recorded after midnight Shanghai time', async () => {
  const r = (await (await report('2026-11')).json()) as MonthlyReport;
  expect(r.statistics.overall.material).toEqual([{ currency: 'CNY', amount: 50000 }]);
  expect(r.statistics.overall.totalAfterSales).toEqual([{ currency: 'CNY', amount: 50000 }]);
  expect(r.statistics.byProject.map((p) => [p.customer, p.site])).toEqual([['Acme', '长葛 DC']]);
});

test('CSV: the same figures, one row per scope, row and currency', async () => {
  const res = await report('2026-10', 'csv');
  expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
  const lines = (await res.text()).split('\r\n');
  expect(lines).toEqual(
    expect.arrayContaining([
      'installation_person_times,,,,3,,,,,,,,overall,,,0.1,,,',
      'installation_cost,,,,,,,,,,,,overall,,,,CNY,388000,',
      'dispatch_person_days,,,,5,,,,,,,,overall,,,,,,',
      'transport_cost,,,,,,,,,,,,overall,,,,CNY,6500,',
      'total_after_sales_cost,,,,,,,,,,,,overall,,,,CNY,251450,',
      'total_after_sales_cost,,,,,,,,,,,,overall,,,,EUR,4500,',
      'summary,,,,2,9,3,,,75,,,customer,Acme,,,,,',
      'summary,,,,0,0,0,,,,,,customer,Beta,,,,,',
      'installation_person_days,,,,15,,,,,,,,project,Acme,许昌 office,,,,',
      'total_after_sales_cost,,,,,,,,,,,,project,Acme,长葛 DC,,CNY,251450,',
    ]),
  );
});

test('a projected line per event that carries effort or cost, as the event said', async () => {
  const { rows } = await db.pool.query<{ incident_id: string; n: number }>(
    `SELECT incident_id, count(*)::int AS n FROM incident_costs GROUP BY incident_id
     ORDER BY incident_id`,
  );
  // A: dispatch, arrival, spare parts (material and transport), 2 recorded; B: dispatch, arrival,
  // 1 recorded; C: dispatch, 2 recorded; D: dispatch, 1 recorded.
  expect(rows).toEqual([
    { incident_id: 'INC-A', n: 6 },
    { incident_id: 'INC-B', n: 3 },
    { incident_id: 'INC-C', n: 3 },
    { incident_id: 'INC-D', n: 2 },
  ]);
  const kinds = await db.pool.query<{ incident_id: string; service_kind: string }>(
    `SELECT incident_id, service_kind FROM incidents ORDER BY incident_id`,
  );
  expect(kinds.rows.map((r) => r.service_kind)).toEqual([
    'after_sales',
    'installation',
    'after_sales',
    'after_sales',
  ]);
});

test('the timeline shows the costs as they were posted', async () => {
  const res = await fetch(`http://${app.address}/v1/incidents/INC-C/timeline`, {
    headers: { authorization },
  });
  const body = (await res.json()) as { entries: { type: string; data: object }[] };
  expect(body.entries.filter((e) => e.type === 'incident.cost_recorded')).toEqual([
    expect.objectContaining({ data: { kind: 'other', amount: 4500, currency: 'EUR' } }),
    expect.objectContaining({ data: { kind: 'installation', amount: 8000, currency: 'CNY' } }),
  ]);
});

test('a bad amount or currency is a 400 naming the field, and nothing is recorded', async () => {
  const bad = {
    specversion: '1.0',
    id: 'stats-bad',
    source: '/itest',
    type: 'incident.cost_recorded',
    subject: 'INC-A',
    time: new Date().toISOString(),
    data: { kind: 'material', amount: 12.5, currency: 'RMB' },
  };
  const res = await fetch(`http://${app.address}/v1/events`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify(bad),
  });
  expect(res.status).toBe(400);
  const body = (await res.json()) as { details: { path: string; message: string }[] };
  expect(body.details).toEqual([
    {
      path: 'data.amount',
      message: 'must be an integer number of minor units (e.g. fen), not a decimal',
    },
    { path: 'data.currency', message: 'must be an ISO 4217 currency code in use, e.g. CNY' },
  ]);
});

test('the incident shows its service kind, in the read API and in v_incidents', async () => {
  const kinds: Record<string, unknown> = {};
  for (const id of ['INC-A', 'INC-B']) {
    const res = await fetch(`http://${app.address}/v1/incidents/${id}`, {
      headers: { authorization },
    });
    kinds[id] = ((await res.json()) as { serviceKind: unknown }).serviceKind;
  }
  expect(kinds).toEqual({ 'INC-A': 'after_sales', 'INC-B': 'installation' });
  // migrations/0021: a dashboard splits installation from after-sales without a join.
  const view = await db.pool.query<{ incident_id: string; service_kind: string }>(
    `SELECT incident_id, service_kind FROM v_incidents WHERE incident_id IN ('INC-A', 'INC-B')
     ORDER BY incident_id`,
  );
  expect(view.rows).toEqual([
    { incident_id: 'INC-A', service_kind: 'after_sales' },
    { incident_id: 'INC-B', service_kind: 'installation' },
  ]);
});
