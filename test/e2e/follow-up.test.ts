/**
 * Follow-ups (§4.5.7.6 回访; SPEC §2 `follow_up`, issue 15 item 4), end to end against the running
 * service (all roles in one child process, real broker, real Postgres): incidents handled 72 h
 * ago minus a few seconds are posted over HTTP, so that the default 72 h follow-up deadline falls
 * just ahead.
 *
 *   id  handled (at R)        follow-up (at R)            expected
 *   A   resolved              none                        sla.warning at once (80 % passed),
 *                                                         sla.breached at R + 72 h; no escalation
 *   B   resolved              phone, satisfaction 4       met: nothing on Kafka
 *   C   closed (no resolve)   visit, satisfaction 2       met: nothing on Kafka
 *
 * Every event is at the same instant R (a follow-up at the millisecond of the resolution counts),
 * so that the month of the report is R's month whatever day the test runs. The monthly report
 * then shows 3 follow-ups owed, 2 done, 1 missed: rate 66.7 %, mean satisfaction 3.
 */
import { randomUUID } from 'node:crypto';
import {
  consume,
  lifecycleEvent,
  startService,
  type Received,
  type RunningService,
} from './service';
import { csvSection } from '../helpers/csv';
import { waitFor } from '../helpers/infra';

jest.setTimeout(180_000);

const SEC = 1000;
const HOUR = 3600 * SEC;

let service: RunningService;
let pager: Awaited<ReturnType<typeof consume>>;

const run = randomUUID().slice(0, 8);
const id = (name: string) => `E2E-FU-${run}-${name}`;

beforeAll(async () => {
  service = await startService(`follow_up_${run}`);
  pager = await consume([service.topics.warnings, service.topics.escalations]);
});

afterAll(async () => {
  await pager?.stop();
  await service?.stop();
});

async function post(events: object[]): Promise<Response> {
  return fetch(`${service.baseUrl}/v1/events`, {
    method: 'POST',
    headers: { ...service.auth.write, 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });
}

async function read<T>(url: string): Promise<T> {
  const res = await fetch(`${service.baseUrl}${url}`, { headers: service.auth.read });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function followUpOf(incident: string) {
  const detail = await read<{ milestones: { milestone: string; state: string }[] }>(
    `/v1/incidents/${incident}`,
  );
  return detail.milestones.find((m) => m.milestone === 'follow_up');
}

/** `incident/type` of the SLA events about follow_up, e.g. `A/sla.breached`. */
const followUpEvents = (received: Received[]) =>
  received
    .filter((r) => r.event.data.milestone === 'follow_up')
    .map((r) => `${r.event.subject.replace(id(''), '')}/${r.event.type}`)
    .sort();

it('rejects a follow-up with a bad channel or score, naming the fields', async () => {
  const res = await post([
    lifecycleEvent('incident.followed_up', id('X'), Date.now(), {
      channel: 'email',
      satisfaction: 6,
    }),
  ]);
  expect(res.status).toBe(400);
  const body = JSON.stringify(await res.json());
  expect(body).toContain('[0].data.channel');
  expect(body).toContain('[0].data.satisfaction');
});

it('a follow-up left undone warns and breaches after 72 h; done ones count in the report', async () => {
  const R = Date.now() - 72 * HOUR + 20 * SEC;
  const reported = (name: string) =>
    lifecycleEvent('incident.reported', id(name), R, {
      severity: 'IV',
      title: `follow-up ${name}`,
    });
  const res = await post([
    reported('A'),
    lifecycleEvent('incident.resolved', id('A'), R),
    reported('B'),
    lifecycleEvent('incident.resolved', id('B'), R),
    lifecycleEvent('incident.followed_up', id('B'), R, { channel: 'phone', satisfaction: 4 }),
    reported('C'),
    lifecycleEvent('incident.closed', id('C'), R, { confirmedBy: 'customer' }),
    lifecycleEvent('incident.followed_up', id('C'), R, {
      channel: 'visit',
      satisfaction: 2,
      note: '一般',
    }),
  ]);
  expect(res.status).toBe(202);

  await waitFor(() => followUpEvents(pager.received).includes('A/sla.breached'), {
    timeoutMs: 60 * SEC,
    what: `A's follow_up breach (got ${followUpEvents(pager.received).join(', ')})`,
  });
  const breach = pager.received.find(
    (r) => r.event.type === 'sla.breached' && r.event.data.milestone === 'follow_up',
  )!;
  expect(breach.topic).toBe(service.topics.escalations);
  expect(breach.event.data).toMatchObject({
    incidentId: id('A'),
    dueAt: new Date(R + 72 * HOUR).toISOString(),
  });
  // The warning fired at once (its 80 % threshold had passed, the deadline was ahead); the met
  // follow-ups fired nothing; and the breach escalated nobody (its escalation would have been
  // written in the same transaction as the breach, so it would be on the topic by now).
  expect(followUpEvents(pager.received)).toEqual(['A/sla.breached', 'A/sla.warning']);
  expect(
    pager.received.filter(
      (r) => r.event.type === 'incident.escalated' && r.event.data.milestone === 'follow_up',
    ),
  ).toEqual([]);

  expect(await followUpOf(id('A'))).toMatchObject({ state: 'breached' });
  expect(await followUpOf(id('B'))).toMatchObject({ state: 'met' });
  expect(await followUpOf(id('C'))).toMatchObject({ state: 'met' });

  const month = new Date(R).toISOString().slice(0, 7);
  const report = await read<{
    followUps: unknown;
    milestones: { severity: string; milestone: string }[];
  }>(`/v1/reports/monthly?month=${month}&tz=UTC`);
  expect(report.followUps).toEqual({
    due: 3,
    followedUp: 2,
    onTime: 2,
    missed: 1,
    pending: 0,
    ratePct: 66.7,
    satisfaction: { responses: 2, mean: 3 },
  });
  expect(report.milestones).toContainEqual(
    expect.objectContaining({
      severity: 'all',
      milestone: 'follow_up',
      count: 3,
      metOnTime: 2,
      breached: 1,
    }),
  );
  const csv = await fetch(
    `${service.baseUrl}/v1/reports/monthly?month=${month}&tz=UTC&format=csv`,
    {
      headers: service.auth.read,
    },
  );
  const text = await csv.text();
  expect(csvSection(text, 'follow_up_rate_pct', ['value'])).toEqual({ value: '66.7' });
  expect(csvSection(text, 'satisfaction_mean', ['count', 'value'])).toEqual({
    count: '2',
    value: '3',
  });
});
