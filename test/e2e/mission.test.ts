/**
 * The mission, end to end, against the running service (all roles in one child process, real
 * broker, real Postgres): incidents of every severity are posted over HTTP with report times in
 * the past, so that their default-policy deadlines (SPEC §2) fall a few seconds ahead; some are
 * acknowledged in time, one is re-graded, one is paused. A plain Kafka consumer on the warnings
 * and escalations topics then checks that exactly the right warnings, breaches and escalations
 * arrive, never before they are due and not much after; and the read API and the SSE stream must
 * show the same states.
 *
 *   id   severity  reported            what happens                       expected on Kafka
 *   I    I         due(resp,disp)+20s  acknowledged in time                warnings resp+disp at once;
 *                                                                          dispatch breaches at T+20s,
 *                                                                          escalation 1→2
 *   II   II        due(resp,disp)+22s  re-graded to IV (limits 5→15 min)   warnings at once; no breach
 *   III  III       2 h ago, + 24s      paused (diagnosis/solution pause)   response, dispatch, arrival
 *                                                                          breached at once, ONE
 *                                                                          escalation 1→2; warnings
 *                                                                          diagnosis+solution at once;
 *                                                                          no breach at T+24s (paused)
 *   IV   IV        due(resp,disp)+26s  acknowledged and dispatched         warnings at once; no breach
 *
 * "At once" warnings: their 80 % threshold is already past but the deadline is ahead (SPEC §4
 * "Discovered late"); III's first three milestones are past their deadlines, so only breaches.
 */
import { randomUUID } from 'node:crypto';
import {
  consume,
  openStream,
  startService,
  type Received,
  type RunningService,
  type SseEvent,
} from './service';
import { waitFor } from '../helpers/infra';

jest.setTimeout(240_000);

const SEC = 1000;
const MIN = 60 * SEC;
/**
 * How long after the last deadline that must not fire the pager keeps listening: anything that
 * fires in this window by mistake is caught (a loaded, shared CI machine fires late, not early).
 */
const LATE_MS = 6 * SEC;

let service: RunningService;
let pager: Awaited<ReturnType<typeof consume>>;
let stream: Awaited<ReturnType<typeof openStream>>;

const run = randomUUID().slice(0, 8);
const site = `e2e-site-${run}`;
const id = (name: string) => `E2E-${run}-${name}`;

beforeAll(async () => {
  service = await startService(`mission_${run}`);
  pager = await consume([service.topics.warnings, service.topics.escalations]);
  stream = await openStream(service.baseUrl, `?site=${site}`, service.auth.read);
});

afterAll(async () => {
  stream?.close();
  await pager?.stop();
  await service?.stop();
});

async function post(events: object[]): Promise<void> {
  const res = await fetch(`${service.baseUrl}/v1/events`, {
    method: 'POST',
    headers: { ...service.auth.write, 'content-type': 'application/cloudevents-batch+json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 202) throw new Error(`POST /v1/events: ${res.status} ${await res.text()}`);
}

function event(type: string, incident: string, at: number, data: object = {}) {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source: '/e2e/servicedesk',
    type,
    subject: incident,
    time: new Date(at).toISOString(),
    datacontenttype: 'application/json',
    data,
  };
}

async function read<T = Record<string, unknown>>(url: string): Promise<T> {
  const res = await fetch(`${service.baseUrl}${url}`, { headers: service.auth.read });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

interface MilestoneView {
  milestone: string;
  state: string;
  dueAt: string | null;
  remainingSeconds: number | null;
  breachedAt: string | null;
}
interface IncidentView {
  id: string;
  status: string;
  severity: string;
  tier: number;
  breached: boolean;
  milestones: MilestoneView[];
}

/** `incident/type/milestone-or-tier` of each SLA event, e.g. `I/sla.breached/dispatch`. */
function label(r: Received): string {
  const d = r.event.data;
  const name = r.event.subject.replace(`E2E-${run}-`, '');
  const what =
    r.event.type === 'incident.escalated'
      ? `${String(d.fromTier)}->${String(d.toTier)}`
      : String(d.milestone);
  return `${name}/${r.event.type}/${what}`;
}

it('warns, breaches and escalates exactly as the SLA says, and every view agrees', async () => {
  const T = Date.now();
  // Report times chosen so that the deadlines of response and dispatch fall at T + dueIn.
  const reports = [
    { name: 'I', severity: 'I', limit: 5 * MIN, dueIn: 20 * SEC },
    { name: 'II', severity: 'II', limit: 5 * MIN, dueIn: 22 * SEC },
    // III: reported two hours ago, so that diagnosis and solution (2 h) are due at T + 24 s.
    { name: 'III', severity: 'III', limit: 120 * MIN, dueIn: 24 * SEC },
    { name: 'IV', severity: 'IV', limit: 15 * MIN, dueIn: 26 * SEC },
  ];
  const reportedAt = new Map(reports.map((r) => [r.name, T - r.limit + r.dueIn]));
  await post(
    reports.map((r) =>
      event('incident.reported', id(r.name), reportedAt.get(r.name)!, {
        severity: r.severity,
        title: `mission ${r.name}`,
        site,
      }),
    ),
  );

  // What fires at once: 8 warnings; III's three overdue breaches and its single escalation.
  const atOnce = [
    'I/sla.warning/response',
    'I/sla.warning/dispatch',
    'II/sla.warning/response',
    'II/sla.warning/dispatch',
    'III/sla.warning/diagnosis',
    'III/sla.warning/solution',
    'IV/sla.warning/response',
    'IV/sla.warning/dispatch',
    'III/sla.breached/response',
    'III/sla.breached/dispatch',
    'III/sla.breached/arrival',
    'III/incident.escalated/1->2',
  ];
  await waitFor(() => atOnce.every((l) => pager.received.some((r) => label(r) === l)), {
    timeoutMs: 15 * SEC,
    what: `the immediate SLA events (got ${pager.received.map(label).join(', ')})`,
  });

  // The follow-ups, while every deadline involved is still ahead.
  const now = Date.now();
  expect(now).toBeLessThan(T + 15 * SEC); // else the machine is too slow for this scenario
  await post([
    event('incident.acknowledged', id('I'), now, { by: 'first-line' }),
    event('incident.severity_changed', id('II'), now, { severity: 'IV', reason: 'regraded' }),
    event('incident.paused', id('III'), now, { reason: 'waiting for customer access' }),
    event('incident.acknowledged', id('IV'), now, { by: 'first-line' }),
    event('incident.dispatched', id('IV'), now, { engineers: ['wang', 'li'] }),
  ]);

  // Wait past the last deadline that must NOT fire (IV at T + 26 s), with room for lateness.
  const end = T + 26 * SEC + LATE_MS;
  await waitFor(
    () => Date.now() >= end && pager.received.some((r) => label(r) === 'I/sla.breached/dispatch'),
    {
      timeoutMs: end - Date.now() + 10 * SEC,
      intervalMs: 200,
      what: "the window to pass and I's dispatch breach",
    },
  );

  // Exactly these, each once (consumers dedupe by id; the service must not need it here).
  const expected = [...atOnce, 'I/sla.breached/dispatch', 'I/incident.escalated/1->2'].sort();
  expect(pager.received.map(label).sort()).toEqual(expected);
  expect(new Set(pager.received.map((r) => r.event.id)).size).toBe(pager.received.length);

  // Topics and keys: warnings on the warnings topic, the rest on escalations; keyed by incident.
  for (const r of pager.received) {
    expect(r.topic).toBe(
      r.event.type === 'sla.warning' ? service.topics.warnings : service.topics.escalations,
    );
    expect(r.key).toBe(r.event.subject);
    expect(r.event.source).toBe('/sla-timer');
    expect(r.event.data).toMatchObject({
      incidentId: r.event.subject,
      site,
      title: expect.any(String),
    });
  }

  // Times: a warning between its threshold and its deadline; a breach never before its deadline.
  // How late they come is the benches' to measure (npm run bench -- e2e), not a test's.
  for (const r of pager.received) {
    const d = r.event.data;
    const emitted = Math.min(r.timestamp, Date.parse(r.event.time));
    if (r.event.type === 'sla.warning') {
      expect(emitted).toBeGreaterThanOrEqual(Date.parse(String(d.warnAt)));
      expect(emitted).toBeLessThanOrEqual(Date.parse(String(d.dueAt)));
    }
    if (r.event.type === 'sla.breached') {
      const due = Date.parse(String(d.dueAt));
      expect(Date.parse(String(d.breachedAt))).toBeGreaterThanOrEqual(due);
      expect(emitted).toBeGreaterThanOrEqual(due);
    }
  }
  const iBreach = pager.received.find((r) => label(r) === 'I/sla.breached/dispatch')!;
  expect(iBreach.event.data.dueAt).toBe(new Date(T + 20 * SEC).toISOString());
  expect(iBreach.event.data).toMatchObject({ severity: 'I' });
  const iEscalation = pager.received.find((r) => label(r) === 'I/incident.escalated/1->2')!;
  expect(iEscalation.event.data).toMatchObject({ automatic: true, tier: 2, milestone: 'dispatch' });

  // ----- The read API shows the same story.
  const detail = async (name: string) => read<IncidentView>(`/v1/incidents/${id(name)}`);
  const states = (v: IncidentView) =>
    Object.fromEntries(v.milestones.map((m) => [m.milestone, m.state]));
  const [I, II, III, IV] = await Promise.all(['I', 'II', 'III', 'IV'].map(detail));
  expect(I).toMatchObject({ severity: 'I', tier: 2, breached: true, status: 'open' });
  expect(states(I!)).toMatchObject({ response: 'met', dispatch: 'breached', arrival: 'pending' });
  expect(II).toMatchObject({ severity: 'IV', tier: 1, breached: false });
  expect(states(II!)).toMatchObject({ response: 'pending', dispatch: 'pending' });
  // Re-graded: the deadline is recomputed from the original report time with the IV limit.
  const iiResponse = II!.milestones.find((m) => m.milestone === 'response')!;
  expect(iiResponse.dueAt).toBe(new Date(reportedAt.get('II')! + 15 * MIN).toISOString());
  expect(III).toMatchObject({ severity: 'III', tier: 2, breached: true });
  expect(states(III!)).toMatchObject({
    response: 'breached',
    dispatch: 'breached',
    arrival: 'breached',
    diagnosis: 'paused',
    solution: 'paused',
  });
  expect(IV).toMatchObject({ severity: 'IV', tier: 1, breached: false });
  expect(states(IV!)).toMatchObject({ response: 'met', dispatch: 'met' });

  const list = await read<{ total: number; items: { id: string }[] }>(
    `/v1/incidents?site=${site}&breached=true`,
  );
  expect(list.items.map((i) => i.id).sort()).toEqual([id('I'), id('III')].sort());
  const atRisk = await read<{ items: { incidentId: string; milestone: string }[] }>(
    `/v1/sla/at-risk?site=${site}&horizon=PT15M`,
  );
  expect(atRisk.items.map((i) => `${i.incidentId}/${i.milestone}`)).toEqual(
    expect.arrayContaining([`${id('II')}/response`, `${id('II')}/dispatch`]),
  );
  const timeline = await read<{ entries: { kind: string; type: string; at: string }[] }>(
    `/v1/incidents/${id('I')}/timeline`,
  );
  expect(timeline.entries.map((e) => `${e.kind}:${e.type}`)).toEqual(
    expect.arrayContaining([
      'lifecycle:incident.reported',
      'lifecycle:incident.acknowledged',
      'sla:sla.warning',
      'sla:sla.breached',
      'sla:incident.escalated',
    ]),
  );
  const times = timeline.entries.map((e) => Date.parse(e.at));
  expect([...times].sort((a, b) => a - b)).toEqual(times);

  // ----- The SSE stream, folded as a dashboard would, agrees with the read API.
  await waitFor(() => stream.events.filter((e) => e.event === 'sla').length >= expected.length, {
    what: 'every SLA event on the stream',
  });
  expect(stream.comments()).toBeGreaterThan(0); // heartbeats
  const board = fold(stream.events);
  for (const view of [I!, II!, III!, IV!]) {
    const seen = board.get(view.id);
    expect(seen).toBeDefined();
    expect({ severity: seen!.severity, tier: seen!.tier, status: seen!.status }).toEqual({
      severity: view.severity,
      tier: view.tier,
      status: view.status,
    });
    for (const m of view.milestones) {
      expect(`${view.id}/${m.milestone}: ${seen!.milestones.get(m.milestone)}`).toBe(
        `${view.id}/${m.milestone}: ${m.state}`,
      );
    }
  }
  const slaOnStream = stream.events
    .filter((e) => e.event === 'sla')
    .map((e) => e.data.id)
    .sort();
  expect(slaOnStream).toEqual(pager.received.map((r) => r.event.id).sort());
});

interface Board {
  severity: unknown;
  tier: number;
  status: unknown;
  milestones: Map<string, string>;
}

/**
 * A dashboard's model from the stream: incident snapshots replace, milestone events replace,
 * SLA events move a milestone to warned / breached (a breach stands) and raise the tier.
 */
function fold(events: SseEvent[]): Map<string, Board> {
  const board = new Map<string, Board>();
  const of = (incidentId: string) => {
    let b = board.get(incidentId);
    if (!b)
      board.set(incidentId, (b = { severity: null, tier: 1, status: null, milestones: new Map() }));
    return b;
  };
  for (const e of events) {
    if (e.event === 'incident') {
      const b = of(String(e.data.incidentId));
      b.severity = e.data.severity;
      b.status = e.data.status;
      b.tier = Math.max(b.tier, Number(e.data.tier));
    } else if (e.event === 'milestone') {
      of(String(e.data.incidentId)).milestones.set(String(e.data.milestone), String(e.data.state));
    } else if (e.event === 'sla') {
      const data = e.data.data as Record<string, unknown>;
      const b = of(String(e.data.subject));
      const m = String(data.milestone);
      const now = b.milestones.get(m);
      if (e.data.type === 'sla.warning' && (now === 'pending' || now === undefined)) {
        b.milestones.set(m, 'warned');
      } else if (e.data.type === 'sla.breached' && now !== 'met' && now !== 'met_late') {
        b.milestones.set(m, 'breached');
      } else if (e.data.type === 'sla.breach_retracted') {
        b.milestones.set(m, 'met');
      } else if (e.data.type === 'incident.escalated') {
        b.tier = Math.max(b.tier, Number(data.toTier));
      }
    }
  }
  return board;
}
