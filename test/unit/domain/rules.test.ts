// The rules of issue #4 point 3, one describe per rule, under the default 7×24 policy.
import {
  DEFAULT_ORPHAN_BOUND_MS,
  HOUR,
  MINUTE,
  evaluate,
  evolve,
  initialState,
  isOrphaned,
  DEFAULT_POLICY,
  type DefaultMilestoneId,
  type MilestoneView,
} from '../../../src/domain';
import { T0, ev, hrs, milestone, min, reported, run, stateOf } from './fixtures';

const ack = (at: number) => ev('incident.acknowledged', at, { by: 'zhang' });
const dispatched = (at: number) => ev('incident.dispatched', at, { engineers: ['li'] });
const diagnosed = (at: number) => ev('incident.diagnosed', at, { cause: 'PSU' });
const solved = (at: number) => ev('incident.solution_provided', at, { kind: 'workaround' });
const parts = (at: number) => ev('incident.spare_parts_provided', at, { parts: ['PSU'] });
const pause = (at: number) => ev('incident.paused', at, { reason: 'waiting for customer access' });
const resume = (at: number) => ev('incident.resumed', at, { reason: 'access granted' });
const regrade = (at: number, severity: 'I' | 'II' | 'III' | 'IV') =>
  ev('incident.severity_changed', at, { severity, reason: 'regraded' });
const resolved = (at: number) => ev('incident.resolved', at, { resolution: 'replaced PSU' });
const closed = (at: number) => ev('incident.closed', at, { confirmedBy: 'customer' });
const cancelled = (at: number) => ev('incident.cancelled', at, { reason: 'duplicate' });
const reopened = (at: number) => ev('incident.reopened', at, { reason: 'failed again' });

/** Views of the current cycle by milestone id (every default milestone is present). */
const byId = (r: ReturnType<typeof run>) =>
  Object.fromEntries(r.milestones.map((m) => [m.milestone, m])) as Record<
    DefaultMilestoneId,
    MilestoneView
  >;
const timerKeys = (r: ReturnType<typeof run>) => r.timers.map((t) => t.key);

describe('meeting milestones', () => {
  test('met at or before the deadline is met; after it, met_late with the breach at the deadline', () => {
    const r = byId(run([reported(T0, 'I'), ack(min(5)), dispatched(min(6))], min(7)));
    expect(r.response).toMatchObject({
      state: 'met',
      metAt: min(5),
      dueAt: min(5),
      breachedAt: null,
    });
    expect(r.dispatch).toMatchObject({
      state: 'met_late',
      metAt: min(6),
      dueAt: min(5),
      breachedAt: min(5),
    });
  });

  test('an unmet milestone is warned from 80 % and breached from its deadline (inclusive)', () => {
    const events = [reported(T0, 'I')];
    expect(milestone(events, min(3.99), 'response').state).toBe('pending');
    expect(milestone(events, min(4), 'response').state).toBe('warned');
    expect(milestone(events, min(5), 'response')).toMatchObject({
      state: 'breached',
      breachedAt: min(5),
      remainingMs: 0,
    });
    expect(milestone(events, min(6), 'response').remainingMs).toBe(-MINUTE);
  });

  test('the first meeting event counts; a second one changes nothing', () => {
    expect(milestone([reported(), ack(min(2)), ack(min(3))], min(4), 'response').metAt).toBe(
      min(2),
    );
  });

  test('events stamped before the report count as at the report', () => {
    expect(milestone([reported(T0), ack(min(-2))], min(1), 'response')).toMatchObject({
      state: 'met',
      metAt: T0,
    });
  });
});

describe('severity change', () => {
  test('raising recomputes open milestones from the report time with the new limits', () => {
    const r = byId(run([reported(T0, 'IV'), regrade(min(3), 'I')], min(3)));
    expect(r.response).toMatchObject({ state: 'pending', dueAt: min(5), warnAt: [min(4)] });
    expect(r.arrival).toMatchObject({ dueAt: min(10) });
    expect(r.diagnosis).toMatchObject({ dueAt: min(60) });
    expect(run([reported(T0, 'IV'), regrade(min(3), 'I')], min(3)).incident?.severity).toBe('I');
  });

  test('raising when the new deadline is already past breaches at once', () => {
    const r = run([reported(T0, 'IV'), regrade(min(12), 'I')], min(12));
    expect(byId(r).response).toMatchObject({
      state: 'breached',
      dueAt: min(5),
      breachedAt: min(5),
    });
    // The breach timer exists with a past due time: it fires at once. No warning once overdue.
    expect(r.timers.find((t) => t.key === 'INC-1/response/0/breach')).toMatchObject({
      dueAt: min(5),
    });
    expect(timerKeys(r)).not.toContain('INC-1/response/0/warn:0');
    expect(byId(r).arrival).toMatchObject({ state: 'breached', dueAt: min(10) });
    expect(byId(r).diagnosis).toMatchObject({ state: 'pending', dueAt: min(60) });
  });

  test('lowering lengthens open milestones, but a deadline already passed stays breached', () => {
    const r = byId(run([reported(T0, 'I'), regrade(min(7), 'IV'), ack(min(10))], min(12)));
    // response (I: 5 min) had passed at the regrade: the breach stands, met later is met_late.
    expect(r.response).toMatchObject({
      state: 'met_late',
      dueAt: min(5),
      breachedAt: min(5),
      metAt: min(10),
    });
    // arrival (I: 10 min) was still open at the regrade: now IV, 20 min.
    expect(r.arrival).toMatchObject({ state: 'pending', dueAt: min(20) });
  });

  test('met milestones keep their result', () => {
    const r = byId(run([reported(T0, 'IV'), ack(min(8)), regrade(min(9), 'I')], min(9)));
    expect(r.response).toMatchObject({ state: 'met', dueAt: min(15), metAt: min(8) });
    const late = byId(run([reported(T0, 'I'), ack(min(8)), regrade(min(9), 'IV')], min(9)));
    expect(late.response).toMatchObject({ state: 'met_late', dueAt: min(5) });
  });

  test('a regrade changes the generation of re-planned timers, keys stay', () => {
    const before = run([reported(T0, 'IV')], min(1)).timers;
    const after = run([reported(T0, 'IV'), regrade(min(1), 'II')], min(1)).timers;
    expect(after.map((t) => t.key)).toEqual(before.map((t) => t.key));
    const gen = (ts: typeof before, k: string) => ts.find((t) => t.key === k)?.generation;
    expect(gen(before, 'INC-1/arrival/0/breach')).toBe(min(20));
    expect(gen(after, 'INC-1/arrival/0/breach')).toBe(min(15));
    // spare_parts is 2 h at every severity: same plan, same generation.
    expect(gen(after, 'INC-1/spare_parts/0/breach')).toBe(
      gen(before, 'INC-1/spare_parts/0/breach'),
    );
  });
});

describe('pause and resume', () => {
  const paused30 = [reported(T0, 'I'), pause(min(10)), resume(min(40))];

  test('only pausable milestones stop, and their deadline moves by exactly the paused time', () => {
    const r = byId(run(paused30, min(41)));
    expect(r.diagnosis).toMatchObject({
      state: 'pending',
      dueAt: min(90),
      pausedMs: 30 * MINUTE,
      warnAt: [min(78)],
    });
    expect(r.solution).toMatchObject({ dueAt: min(90), pausedMs: 30 * MINUTE });
    expect(r.response).toMatchObject({ state: 'breached', dueAt: min(5), pausedMs: 0 });
    expect(r.arrival).toMatchObject({ dueAt: min(10) });
  });

  test('while paused: state paused, no deadline, no timers for the paused milestones', () => {
    const r = run([reported(T0, 'I'), pause(min(2))], min(30));
    expect(byId(r).diagnosis).toMatchObject({
      state: 'paused',
      dueAt: null,
      remainingMs: null,
      pausedMs: 28 * MINUTE,
    });
    expect(r.incident?.paused).toBe(true);
    expect(
      timerKeys(r).filter((k) => k.includes('/diagnosis/') || k.includes('/solution/')),
    ).toEqual([]);
    expect(timerKeys(r)).toContain('INC-1/response/0/breach');
  });

  test('a warning reached before the pause stays where it was', () => {
    const r = byId(run([reported(T0, 'I'), pause(min(50)), resume(min(60))], min(61)));
    expect(r.diagnosis).toMatchObject({ state: 'warned', warnAt: [min(48)], dueAt: min(70) });
  });

  test('a pause while already breached does not undo the breach; the overdue stands still', () => {
    const events = [reported(T0, 'I'), pause(min(70))];
    const r = run(events, min(80));
    expect(byId(r).diagnosis).toMatchObject({
      state: 'paused',
      dueAt: min(60),
      breachedAt: min(60),
      remainingMs: -10 * MINUTE,
      pausedMs: 0,
    });
    expect(timerKeys(r)).toContain('INC-1/diagnosis/0/breach');
    expect(byId(run([...events, resume(min(100))], min(101))).diagnosis).toMatchObject({
      state: 'breached',
      dueAt: min(60),
      remainingMs: -11 * MINUTE,
      pausedMs: 0,
    });
  });

  test('a second pause and a resume without pause are ignored', () => {
    const r = byId(
      run(
        [reported(T0, 'I'), resume(min(5)), pause(min(10)), pause(min(20)), resume(min(40))],
        min(41),
      ),
    );
    expect(r.diagnosis).toMatchObject({ dueAt: min(90), pausedMs: 30 * MINUTE });
  });

  test('several pauses add up', () => {
    const r = byId(
      run(
        [reported(T0, 'I'), pause(min(10)), resume(min(20)), pause(min(30)), resume(min(45))],
        min(50),
      ),
    );
    expect(r.solution).toMatchObject({ dueAt: min(85), pausedMs: 25 * MINUTE });
  });

  test('a milestone met while paused is met', () => {
    const r = byId(run([reported(T0, 'I'), pause(min(10)), diagnosed(min(80))], min(90)));
    expect(r.diagnosis).toMatchObject({ state: 'met', metAt: min(80) });
  });
});

describe('resolved, closed, cancelled', () => {
  const base = [reported(T0, 'I'), ack(min(3))];

  test.each([
    ['resolved', resolved],
    ['closed', closed],
  ] as const)(
    '%s: open milestones become not_applicable, passed deadlines stay breached',
    (status, settle) => {
      const r = run([...base, settle(min(30))], min(31));
      expect(r.incident?.status).toBe(status);
      expect(Object.fromEntries(r.milestones.map((m) => [m.milestone, m.state]))).toEqual({
        response: 'met',
        dispatch: 'breached',
        arrival: 'breached',
        diagnosis: 'not_applicable',
        solution: 'not_applicable',
        spare_parts: 'not_applicable',
      });
      expect(r.timers).toEqual([]);
    },
  );

  test('cancelled: no breach at all; met milestones stay met', () => {
    const r = run([...base, dispatched(min(8)), cancelled(min(30))], min(31));
    expect(r.incident).toMatchObject({ status: 'cancelled', cancelledAt: min(30) });
    expect(
      Object.fromEntries(r.milestones.map((m) => [m.milestone, [m.state, m.breachedAt]])),
    ).toEqual({
      response: ['met', null],
      dispatch: ['not_applicable', null],
      arrival: ['not_applicable', null],
      diagnosis: ['not_applicable', null],
      solution: ['not_applicable', null],
      spare_parts: ['not_applicable', null],
    });
    expect(r.timers).toEqual([]);
  });

  test('cancelled is final: a reopen afterwards is ignored', () => {
    const r = run([...base, cancelled(min(30)), reopened(min(40))], min(41));
    expect(r.incident).toMatchObject({ status: 'cancelled', reopenCount: 0 });
    expect(r.timers).toEqual([]);
  });

  test('meeting events after settling change nothing', () => {
    expect(
      milestone([...base, resolved(min(30)), diagnosed(min(35))], min(40), 'diagnosis').state,
    ).toBe('not_applicable');
  });

  test('closed after resolved keeps the resolution time', () => {
    const r = run([...base, resolved(min(30)), closed(min(90))], min(91));
    expect(r.incident).toMatchObject({ status: 'closed', resolvedAt: min(30), closedAt: min(90) });
  });
});

describe('reopen', () => {
  const first = [
    reported(T0, 'I'),
    ack(min(3)),
    diagnosed(min(20)),
    solved(min(25)),
    resolved(min(30)),
  ];

  test('diagnosis and solution start a new cycle at the reopen time; the first cycle is history', () => {
    const r = run([...first, reopened(min(120))], min(121));
    expect(r.incident).toMatchObject({ status: 'open', reopenCount: 1, resolvedAt: null });
    const m = byId(r);
    expect(m.diagnosis).toMatchObject({
      cycle: 1,
      state: 'pending',
      startAt: min(120),
      dueAt: min(180),
    });
    expect(m.solution).toMatchObject({ cycle: 1, startAt: min(120), dueAt: min(180) });
    expect(m.response).toMatchObject({ cycle: 0, state: 'met' });
    expect(m.dispatch).toMatchObject({ cycle: 0, state: 'breached' });
    expect(r.history.map((h) => [h.milestone, h.cycle, h.state, h.metAt])).toEqual([
      ['diagnosis', 0, 'met', min(20)],
      ['solution', 0, 'met', min(25)],
    ]);
    expect(timerKeys(r)).toContain('INC-1/diagnosis/1/breach');
    expect(timerKeys(r)).not.toContain('INC-1/diagnosis/0/breach');
  });

  test('the new cycle uses the severity in force at the reopen', () => {
    const m = byId(run([...first, regrade(min(60), 'III'), reopened(min(120))], min(121)));
    expect(m.diagnosis).toMatchObject({ cycle: 1, dueAt: min(240) });
  });

  test('a reopen of an open incident is ignored', () => {
    const r = run([reported(T0, 'I'), reopened(min(10))], min(11));
    expect(r.incident?.reopenCount).toBe(0);
    expect(r.history).toEqual([]);
  });

  test('a second reopen makes cycle 2', () => {
    const r = run([...first, reopened(min(60)), resolved(min(70)), reopened(min(80))], min(81));
    expect(byId(r).diagnosis).toMatchObject({ cycle: 2, startAt: min(80) });
    expect(
      r.history.filter((h) => h.milestone === 'diagnosis').map((h) => [h.cycle, h.state]),
    ).toEqual([
      [0, 'met'],
      [1, 'not_applicable'],
    ]);
  });
});

describe('spare_parts', () => {
  test('starts 24 h after the report if the incident is still unresolved then', () => {
    expect(milestone([reported(T0, 'III')], hrs(25), 'spare_parts')).toMatchObject({
      state: 'pending',
      dueAt: hrs(26),
      remainingMs: HOUR,
    });
    expect(milestone([reported(T0, 'III')], hrs(26), 'spare_parts').state).toBe('breached');
  });

  test('not applicable if resolved before the 24 h; no timers', () => {
    const r = run([reported(T0, 'III'), resolved(hrs(23))], hrs(30));
    expect(byId(r).spare_parts).toMatchObject({ state: 'not_applicable', dueAt: null });
    expect(r.timers).toEqual([]);
  });

  test('resolved while running: not applicable before the deadline, breached after', () => {
    expect(milestone([reported(), resolved(hrs(25))], hrs(30), 'spare_parts').state).toBe(
      'not_applicable',
    );
    expect(milestone([reported(), resolved(hrs(27))], hrs(30), 'spare_parts').state).toBe(
      'breached',
    );
  });

  test('met by spare parts within the 2 h', () => {
    expect(milestone([reported(), parts(hrs(25))], hrs(30), 'spare_parts')).toMatchObject({
      state: 'met',
      metAt: hrs(25),
    });
  });

  test('parts provided before the clock started count as met (decided)', () => {
    expect(milestone([reported(), parts(hrs(10))], hrs(30), 'spare_parts')).toMatchObject({
      state: 'met',
      metAt: hrs(10),
    });
  });

  test('parts provided early for an incident resolved within 24 h: it never applied', () => {
    const m = milestone([reported(), parts(hrs(1)), resolved(hrs(2))], hrs(30), 'spare_parts');
    expect(m).toMatchObject({ state: 'not_applicable', metAt: null, stoppedAt: null });
    // Still open at the last event, before the 24 h: met so far (the clock may yet start).
    expect(milestone([reported(), parts(hrs(1))], hrs(2), 'spare_parts').state).toBe('met');
  });

  test('resolved before 24 h but reopened before 24 h: it starts', () => {
    const m = milestone(
      [reported(), resolved(hrs(2)), reopened(hrs(10))],
      hrs(24.5),
      'spare_parts',
    );
    expect(m).toMatchObject({ state: 'pending', cycle: 0, dueAt: hrs(26) });
  });

  test('resolved before 24 h, reopened after: it never applied', () => {
    expect(
      milestone([reported(), resolved(hrs(2)), reopened(hrs(30))], hrs(31), 'spare_parts').state,
    ).toBe('not_applicable');
  });
});

describe('late and out-of-order events', () => {
  test('state is the same as if the events had arrived in time order', () => {
    const inOrder = [
      reported(T0, 'II'),
      ack(min(2)),
      pause(min(10)),
      resume(min(20)),
      diagnosed(min(50)),
    ];
    const shuffled = [inOrder[3]!, inOrder[1]!, inOrder[4]!, inOrder[0]!, inOrder[2]!];
    expect(stateOf(shuffled)).toEqual(stateOf(inOrder));
    expect(evaluate(stateOf(shuffled), DEFAULT_POLICY, min(60))).toEqual(
      evaluate(stateOf(inOrder), DEFAULT_POLICY, min(60)),
    );
  });

  test('a late event that proves a milestone met on time turns the breach into met', () => {
    const before = run([reported(T0, 'I')], min(6));
    expect(byId(before).response.state).toBe('breached');
    const after = run([reported(T0, 'I'), ack(min(4))], min(6));
    expect(byId(after).response).toMatchObject({ state: 'met', metAt: min(4) });
    expect(timerKeys(after)).not.toContain('INC-1/response/0/breach');
  });

  test('events at the same millisecond: the meeting event counts before the resolution', () => {
    expect(milestone([reported(), resolved(min(3)), ack(min(3))], min(4), 'response').state).toBe(
      'met',
    );
  });
});

describe('duplicates', () => {
  test('the same (source, id) twice has no effect, even with other content', () => {
    const a = ev('incident.acknowledged', min(2), { by: 'a' }, { id: 'x' });
    const s1 = stateOf([reported(), a]);
    expect(evolve(s1, a)).toBe(s1);
    expect(evolve(s1, { ...a, at: min(9) })).toBe(s1);
  });

  test('the same id from another source is another event', () => {
    const s = stateOf([
      reported(),
      ev('incident.acknowledged', min(2), {}, { id: 'x', source: '/a' }),
    ]);
    expect(
      evolve(s, ev('incident.acknowledged', min(3), {}, { id: 'x', source: '/b' })).events,
    ).toHaveLength(3);
  });
});

describe('events for an unknown incident', () => {
  const early = [ack(min(2)), dispatched(min(3))];

  test('wait for the report: no incident, no timers, nothing thrown', () => {
    const r = evaluate(stateOf(early), DEFAULT_POLICY, min(4));
    expect(r).toEqual({ incident: null, milestones: [], history: [], timers: [] });
  });

  test('count once the report arrives', () => {
    const m = byId(run([...early, reported(T0)], min(4)));
    expect(m.response.state).toBe('met');
    expect(m.dispatch.state).toBe('met');
  });

  test('are orphans after the bound, measured from their first arrival', () => {
    let s = initialState('INC-1');
    s = evolve(s, ack(min(2)), min(100));
    expect(isOrphaned(s, min(100) + DEFAULT_ORPHAN_BOUND_MS - 1)).toBe(false);
    expect(isOrphaned(s, min(100) + DEFAULT_ORPHAN_BOUND_MS)).toBe(true);
    expect(isOrphaned(evolve(s, reported(T0)), min(10_000))).toBe(false);
    expect(isOrphaned(initialState('INC-2'), min(10_000))).toBe(false);
  });

  test('an event for another incident is not applied', () => {
    const s = stateOf([reported()]);
    expect(evolve(s, ev('incident.acknowledged', min(1), {}, { incidentId: 'INC-2' }))).toBe(s);
  });
});

describe('handler and tier', () => {
  test('assigned sets the handler and, when given, the tier; escalated never lowers', () => {
    const r = run(
      [
        reported(),
        ev('incident.assigned', min(1), { assignee: 'wang', tier: 1 }),
        ev('incident.escalated', min(6), { toTier: 3, reason: 'vendor' }),
        ev('incident.escalated', min(7), { toTier: 2, reason: 'wrong' }),
      ],
      min(8),
    );
    expect(r.incident).toMatchObject({ assignee: 'wang', tier: 3 });
    const back = run(
      [
        reported(),
        ev('incident.escalated', min(6), { toTier: 3, reason: 'x' }),
        ev('incident.assigned', min(9), { assignee: 'li', tier: 1 }),
      ],
      min(10),
    );
    expect(back.incident).toMatchObject({ assignee: 'li', tier: 1 });
  });
});
