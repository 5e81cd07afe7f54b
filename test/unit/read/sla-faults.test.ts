/**
 * The field faults of issue 13, each with its family, through the pure pipeline the service runs:
 * events → projector rows (projectIncident) → what GET /v1/incidents/{id} shows at request time
 * (milestoneView). Every "read twice" here reads the same rows at two instants: nothing may age
 * that SPEC §2 says is frozen. (The same cases against real Kafka and Postgres, the views and the
 * report: test/integration/sla-rules.test.ts.)
 */
import { milestoneView, type MilestoneRow } from '../../../src/application/milestone-state';
import { DEFAULT_POLICY, type IncidentEvent, type MilestoneId } from '../../../src/domain';
import { decodeRecord } from '../../../src/projector/decode';
import { projectIncident } from '../../../src/projector/project-incident';
import type { MilestoneRow as ProjectedRow } from '../../../src/tables/milestones';

const S = 1000;
const H = 3_600_000;
const T = Date.UTC(2026, 10, 24, 2, 0, 0);
const ID = 'INC-F';

let n = 0;
function e<K extends IncidentEvent['type']>(
  type: K,
  at: number,
  data: Extract<IncidentEvent, { type: K }>['data'],
): IncidentEvent {
  return { id: `f${(n += 1)}`, source: '/desk', type, incidentId: ID, at, data } as IncidentEvent;
}

const report = (at: number, severity: 'I' | 'II' | 'III' | 'IV') =>
  e('incident.reported', at, { severity, title: 'Core switch down' });
const SETTLE = {
  resolved: (at: number) => e('incident.resolved', at, {}),
  closed: (at: number) => e('incident.closed', at, {}),
  cancelled: (at: number) => e('incident.cancelled', at, { reason: 'duplicate' }),
};
const pause = (at: number) => e('incident.paused', at, { reason: 'customer away' });
const resume = (at: number) => e('incident.resumed', at, { reason: 'back' });

function project(events: IncidentEvent[]) {
  return projectIncident({
    incidentId: ID,
    existing: [],
    added: events,
    prior: undefined,
    policies: DEFAULT_POLICY,
    fired: [],
  });
}

/** A projected row as the read side loads it from Postgres. */
function asStored(r: ProjectedRow): MilestoneRow {
  const d = (ms: number | null) => (ms === null ? null : new Date(ms));
  return {
    incident_id: r.incidentId,
    milestone: r.milestone,
    cycle: r.cycle,
    state: r.state,
    start_at: d(r.startAt),
    due_at: d(r.dueAt),
    warn_at: r.warnAt.map((w) => new Date(w)),
    met_at: d(r.metAt),
    breached_at: d(r.breachedAt),
    paused_ms: String(r.pausedMs),
    escalates_to_tier: r.escalatesToTier,
    stopped_at: d(r.stoppedAt ?? null),
    overdue_paused_ms: String(r.overduePausedMs ?? 0),
  };
}

/** What the detail shows for one milestone (and cycle) at `now`. */
function shown(events: IncidentEvent[], milestone: MilestoneId, now: number, cycle = 0) {
  const row = project(events).milestones.find(
    (m) => m.milestone === milestone && m.cycle === cycle,
  );
  if (!row) throw new Error(`no ${milestone}/${cycle}`);
  return milestoneView(asStored(row), now);
}

/** Limits of the default policy in ms (SPEC §2), for reports at T − limit − 300 s. */
const LIMIT: Record<'I' | 'II' | 'III', Record<MilestoneId, number>> = {
  I: { response: 300 * S, dispatch: 300 * S, arrival: 600 * S, diagnosis: H, solution: H },
  II: { response: 300 * S, dispatch: 300 * S, arrival: 900 * S, diagnosis: H, solution: H },
  III: { response: 600 * S, dispatch: 600 * S, arrival: 1200 * S, diagnosis: 2 * H },
};

describe('overdue keeps ageing after the milestone settled (fault 1)', () => {
  test('the issue: sev I at T−400 s, resolved at T+5 s; read at T+10 s and T+20 s', () => {
    const events = [report(T - 400 * S, 'I'), SETTLE.resolved(T + 5 * S)];
    const a = shown(events, 'response', T + 10 * S);
    const b = shown(events, 'response', T + 20 * S);
    expect(a).toMatchObject({ state: 'breached', remainingSeconds: -105 });
    expect(b).toEqual(a);
  });

  const family = (['resolved', 'closed'] as const).flatMap((how) =>
    (['I', 'II', 'III'] as const).flatMap((sev) =>
      Object.entries(LIMIT[sev]).map(([m, limit]) => [how, sev, m, limit] as const),
    ),
  );
  test.each(family)('%s, sev %s, breached %s: frozen at the settling', (how, sev, m, limit) => {
    const events = [report(T - limit - 300 * S, sev), SETTLE[how](T + 5 * S)];
    const a = shown(events, m, T + 10 * S);
    expect(a).toMatchObject({ state: 'breached', remainingSeconds: -305 });
    expect(shown(events, m, T + 3 * H)).toEqual(a);
  });

  test.each(Object.entries(LIMIT.I))('cancelled, %s: not applicable, nothing ages', (m) => {
    const events = [report(T - 2 * H, 'I'), SETTLE.cancelled(T + 5 * S)];
    const a = shown(events, m, T + 10 * S);
    expect(a).toMatchObject({ state: 'not_applicable', remainingSeconds: null, breachedAt: null });
    expect(shown(events, m, T + 3 * H)).toEqual(a);
  });

  test('spare_parts breached after 26 h, then resolved: frozen too', () => {
    const events = [report(T - 27 * H, 'I'), SETTLE.resolved(T + 5 * S)];
    const a = shown(events, 'spare_parts', T + 10 * S);
    expect(a).toMatchObject({ state: 'breached', remainingSeconds: -(H + 5 * S) / 1000 });
    expect(shown(events, 'spare_parts', T + 3 * H)).toEqual(a);
  });
});

describe('pause after the deadline counted as paused time (fault 2)', () => {
  const reported = report(T - 3610 * S, 'II');
  test.each(['diagnosis', 'solution'] as const)(
    'the issue (%s): due T−10 s, paused T+2 s, resumed T+12 s',
    (m) => {
      const paused = [reported, pause(T + 2 * S)];
      // While paused: the breach stands, the state says paused, the overdue does not grow.
      const p1 = shown(paused, m, T + 5 * S);
      expect(p1).toMatchObject({
        state: 'paused',
        dueAt: new Date(T - 10 * S).toISOString(),
        breachedAt: new Date(T - 10 * S).toISOString(),
        remainingSeconds: -12,
        pausedSeconds: 0,
      });
      expect(shown(paused, m, T + 11 * S)).toEqual(p1);
      // Resumed: the deadline did not move, so no paused time; the 10 s paused are not overdue.
      const resumed = [...paused, resume(T + 12 * S)];
      expect(shown(resumed, m, T + 20 * S)).toMatchObject({
        state: 'breached',
        dueAt: new Date(T - 10 * S).toISOString(),
        pausedSeconds: 0,
        remainingSeconds: -20,
      });
      // A late meeting event changes nothing of it.
      const met = e(
        m === 'diagnosis' ? 'incident.diagnosed' : 'incident.solution_provided',
        T + 30 * S,
        {
          kind: 'workaround',
        } as never,
      );
      expect(shown([...resumed, met], m, T + 60 * S)).toMatchObject({
        state: 'met_late',
        pausedSeconds: 0,
      });
    },
  );

  test('a pause before the deadline moves it by exactly the paused time', () => {
    const events = [report(T - 3000 * S, 'II'), pause(T - 100 * S), resume(T - 90 * S)];
    expect(shown(events, 'diagnosis', T)).toMatchObject({
      state: 'warned',
      dueAt: new Date(T + 610 * S).toISOString(),
      pausedSeconds: 10,
      remainingSeconds: 610,
    });
  });

  test('never pausable milestones (response) keep ageing through a pause', () => {
    const events = [report(T - 400 * S, 'I'), pause(T + 2 * S)];
    expect(shown(events, 'response', T + 10 * S)).toMatchObject({
      state: 'breached',
      remainingSeconds: -110,
      pausedSeconds: 0,
    });
  });
});

describe('a reopen that did not take effect (fault 3)', () => {
  test.each([
    ['cancelled, then reopened', [SETTLE.cancelled(T + 10 * S)]],
    ['reopened while still open', []],
  ])('%s: reopen count 0, no reopen instant recorded', (_name, before) => {
    const out = project([
      report(T, 'IV'),
      ...before,
      e('incident.reopened', T + 20 * S, { reason: 'x' }),
    ]);
    expect(out.incident.reopenCount).toBe(0);
    expect(out.incident.reopenedAt).toEqual([]);
  });

  test.each(['resolved', 'closed'] as const)('from %s it takes effect, once', (how) => {
    const at = T + 20 * S;
    const out = project([
      report(T, 'IV'),
      SETTLE[how](T + 10 * S),
      e('incident.reopened', at, { reason: 'x' }),
    ]);
    expect(out.incident).toMatchObject({ status: 'open', reopenCount: 1, reopenedAt: [at] });
  });
});

describe('after a reopen, an earlier cycle breach is never revived (fault 4)', () => {
  test.each(['resolved', 'closed'] as const)('breached, %s, reopened: frozen and closed', (how) => {
    const events = [
      report(T - 2 * H, 'I'),
      SETTLE[how](T + 5 * S),
      e('incident.reopened', T + 10 * S, { reason: 'again' }),
    ];
    for (const [m, overdue] of [
      ['response', 2 * H - 300 * S + 5 * S],
      ['diagnosis', H + 5 * S],
    ] as const) {
      const a = shown(events, m, T + 20 * S);
      expect(a).toMatchObject({ state: 'breached', remainingSeconds: -overdue / 1000 });
      expect(shown(events, m, T + 2 * H)).toEqual(a);
    }
    // The new cycle of diagnosis runs from the reopen.
    expect(shown(events, 'diagnosis', T + 20 * S, 1)).toMatchObject({
      state: 'pending',
      remainingSeconds: 3590,
    });
  });
});

describe('a "met" in the future (fault 5): effective time', () => {
  const record = (event: object, acceptedAt: number) => ({
    offset: '1',
    key: Buffer.from(ID),
    value: Buffer.from(JSON.stringify(event)),
    headers: {
      'content-type': 'application/cloudevents+json',
      'sla-accepted-at': String(acceptedAt),
    },
    timestamp: acceptedAt,
  });
  const envelope = (id: string, type: string, time: number, data: object) => ({
    specversion: '1.0',
    id,
    source: '/desk',
    type,
    subject: ID,
    time: new Date(time).toISOString(),
    data,
  });
  const decode = (event: object, acceptedAt: number): IncidentEvent => {
    const d = decodeRecord(record(event, acceptedAt), 1_000_000);
    if (d.kind !== 'event') throw new Error('poison');
    return d.event;
  };

  test('an acknowledgement stamped 45 s ahead is met when accepted, not in the future', () => {
    const reported = decode(
      envelope('r', 'incident.reported', T - 60 * S, { severity: 'I', title: 't' }),
      T - 60 * S,
    );
    const ack = decode(envelope('a', 'incident.acknowledged', T + 45 * S, {}), T);
    const v = shown([reported, ack], 'response', T + S);
    expect(v).toMatchObject({ state: 'met', metAt: new Date(T).toISOString() });
  });

  test('a dispatch stamped after its deadline but accepted before it is met on time', () => {
    const reported = decode(
      envelope('r2', 'incident.reported', T - 290 * S, { severity: 'I', title: 't' }),
      T - 290 * S,
    );
    const dispatched = decode(envelope('d', 'incident.dispatched', T + 40 * S, {}), T);
    const v = shown([reported, dispatched], 'dispatch', T + S);
    expect(v).toMatchObject({ state: 'met', breachedAt: null, metAt: new Date(T).toISOString() });
  });
});

describe('conditional milestones whose clock never started (fault 6)', () => {
  test('spare_parts of an incident resolved within 24 h: never started, no deadline', () => {
    const out = project([report(T, 'I'), SETTLE.resolved(T + H)]);
    const sp = out.milestones.find((m) => m.milestone === 'spare_parts')!;
    expect(sp).toMatchObject({ state: 'not_applicable', dueAt: null, stoppedAt: null });
  });
});
