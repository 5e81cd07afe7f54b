/**
 * The projector's pure part: one incident's events → its rows. Order of arrival must not matter,
 * events without a report wait, fired timers are never planned again, retractions are found.
 */
import fc from 'fast-check';
import { DEFAULT_POLICY, type IncidentEvent } from '../../../src/domain';
import { projectIncident, thresholdText } from '../../../src/projector/project-incident';
import type { FiredTimer } from '../../../src/tables/timers';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 24, 2, 0, 0);
const ID = 'INC-1';

let n = 0;
function e<T extends IncidentEvent['type']>(
  type: T,
  at: number,
  data: Extract<IncidentEvent, { type: T }>['data'],
): IncidentEvent {
  return { id: `e${(n += 1)}`, source: '/desk', type, incidentId: ID, at, data } as IncidentEvent;
}

const story = (): IncidentEvent[] => [
  e('incident.reported', T0, { severity: 'II', title: 'Switch down', site: 'DC-1' }),
  e('incident.acknowledged', T0 + 7 * MIN, {}),
  e('incident.dispatched', T0 + 4 * MIN, {}),
  e('incident.assigned', T0 + 5 * MIN, { assignee: 'li', tier: 2 }),
  e('incident.paused', T0 + 20 * MIN, { reason: 'customer away' }),
  e('incident.resumed', T0 + 40 * MIN, { reason: 'back' }),
  e('incident.diagnosed', T0 + 70 * MIN, { cause: 'fan' }),
];

const run = (existing: IncidentEvent[], added: IncidentEvent[], fired: FiredTimer[] = []) =>
  projectIncident({
    incidentId: ID,
    existing,
    added,
    prior: undefined,
    policies: [DEFAULT_POLICY],
    fired,
  });

/** The firing of INC-1's response breach (severity I: due T0 + 5 min); `eventId` null: skipped. */
const responseBreach = (eventId: string | null): FiredTimer => ({
  timerKey: `${ID}/response/0/breach`,
  generation: T0 + 5 * MIN,
  incidentId: ID,
  milestone: 'response',
  cycle: 0,
  kind: 'breach',
  dueAt: T0 + 5 * MIN,
  eventId,
});

test('the rows do not depend on arrival order or on how events are split into batches', () => {
  const events = story();
  const reference = run([], events);
  fc.assert(
    fc.property(
      fc.shuffledSubarray(events, { minLength: events.length }),
      fc.nat(events.length),
      (shuffled, cut) => {
        const out = run(shuffled.slice(0, cut), shuffled.slice(cut));
        expect(out.incident).toEqual(reference.incident);
        expect(out.milestones).toEqual(reference.milestones);
        expect(out.timers).toEqual(reference.timers);
      },
    ),
    { numRuns: 50 },
  );
  expect(reference.incident).toMatchObject({
    status: 'open',
    severity: 'II',
    assignee: 'li',
    tier: 2,
    policyId: 'default',
    policyVersion: 1,
    eventCount: 7,
    lastEventAt: T0 + 70 * MIN,
  });
  const response = reference.milestones.find((m) => m.milestone === 'response')!;
  expect(response).toMatchObject({
    state: 'met_late',
    dueAt: T0 + 5 * MIN,
    breachedAt: T0 + 5 * MIN,
  });
});

test('events without a report wait: a pending incident with nothing evaluated', () => {
  const [report, ...rest] = story();
  const out = run([], rest);
  expect(out.incident).toMatchObject({ status: 'pending', severity: null, eventCount: 6, tier: 1 });
  expect(out.milestones).toEqual([]);
  expect(out.timers).toEqual([]);
  expect(run(rest, [report!]).incident.status).toBe('open');
});

test('a clock that has not started yet stores its planned deadline and warnings', () => {
  const out = run([], [e('incident.reported', T0, { severity: 'I', title: 'x' })]);
  const spare = out.milestones.find((m) => m.milestone === 'spare_parts')!;
  expect(spare.state).toBe('pending');
  expect(spare.dueAt).toBe(T0 + 26 * 60 * MIN);
  expect(spare.warnAt).toEqual([T0 + 24 * 60 * MIN + 96 * MIN]);
  const breach = out.timers.find((t) => t.key === `${ID}/spare_parts/0/breach`)!;
  expect(breach.deadline).toBe(spare.dueAt);
});

test('a (key, generation) that fired is never planned again; a re-planned generation is', () => {
  const report = e('incident.reported', T0, { severity: 'I', title: 'x' });
  const key = `${ID}/response/0/breach`;
  const skipped = responseBreach(null);
  expect(run([], [report]).timers.some((t) => t.key === key)).toBe(true);
  expect(run([], [report], [skipped]).timers.some((t) => t.key === key)).toBe(false);
  // Re-graded to IV: response is due later, a new generation, which may fire (the first one was
  // skipped by the scheduler, so no breach was reported yet).
  const regraded = run(
    [report],
    [e('incident.severity_changed', T0 + MIN, { severity: 'IV', reason: 'x' })],
    [skipped],
  );
  expect(regraded.timers.find((t) => t.key === key)?.generation).toBe(T0 + 15 * MIN);
});

test('a reported breach is the last timer of its milestone and cycle', () => {
  const report = e('incident.reported', T0, { severity: 'I', title: 'x' });
  const breach = responseBreach('breach-1');
  // A re-grade down moves the deadline past the breach: no second breach, no warning either.
  const regraded = run(
    [report],
    [e('incident.severity_changed', T0 + 6 * MIN, { severity: 'IV', reason: 'minor' })],
    [breach],
  );
  expect(regraded.timers.filter((t) => t.milestone === 'response')).toEqual([]);
  // The other milestones keep theirs.
  expect(regraded.timers.some((t) => t.milestone === 'dispatch')).toBe(true);
  expect(run([report], [], []).timers.some((t) => t.milestone === 'response')).toBe(true);
});

test('a fired breach proven wrong by a late event is retracted; re-grading down is not', () => {
  const report = e('incident.reported', T0, { severity: 'I', title: 'x' });
  const fired = [responseBreach('breach-1')];
  const late = run([report], [e('incident.acknowledged', T0 + 4 * MIN, {})], fired);
  expect(late.retractions).toEqual([
    {
      breachEventId: 'breach-1',
      milestone: 'response',
      cycle: 0,
      dueAt: T0 + 5 * MIN,
      metAt: T0 + 4 * MIN,
    },
  ]);
  const regraded = run(
    [report],
    [
      e('incident.severity_changed', T0 + 6 * MIN, { severity: 'IV', reason: 'minor' }),
      e('incident.acknowledged', T0 + 8 * MIN, {}),
    ],
    fired,
  );
  expect(regraded.retractions).toEqual([]);
  // A breach the scheduler skipped (no event id) has nothing to retract.
  expect(
    run([report], [e('incident.acknowledged', T0 + 4 * MIN, {})], [{ ...fired[0]!, eventId: null }])
      .retractions,
  ).toEqual([]);
});

test('thresholds are written as the policy states them', () => {
  expect(thresholdText({ kind: 'fraction', value: 0.8 })).toBe('0.8');
  expect(thresholdText({ kind: 'lead', ms: 5 * MIN })).toBe('PT5M');
  expect(thresholdText({ kind: 'lead', ms: 90 * MIN })).toBe('PT1H30M');
  expect(thresholdText({ kind: 'lead', ms: 30_000 })).toBe('PT30S');
});

test('a deadline that is no storable instant is a RangeError naming it (counted as an evaluation failure), not a row', () => {
  // A policy as stored before durations were bounded (src/contracts/policy.ts): millennia.
  const huge = {
    ...DEFAULT_POLICY,
    milestones: DEFAULT_POLICY.milestones.map((m) =>
      m.id === 'response' ? { ...m, limits: { ...m.limits, II: 1e20 } } : m,
    ),
  };
  const project = () =>
    projectIncident({
      incidentId: ID,
      existing: [],
      added: [e('incident.reported', T0, { severity: 'II', title: 'Switch down' })],
      prior: undefined,
      policies: [huge],
      fired: [],
    });
  expect(project).toThrow(RangeError);
  expect(project).toThrow(/^incident INC-1: response\/0 dueAt is not a storable instant/);
});
