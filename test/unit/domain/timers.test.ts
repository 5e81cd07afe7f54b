// Timer planning, retractions, escalation over the policy's tiers.
import {
  DEFAULT_POLICY,
  escalationFor,
  escalationTierFor,
  retractions,
  type MilestoneId,
} from '../../../src/domain';
import { T0, ev, min, reported, run } from './fixtures';

const ack = (at: number) => ev('incident.acknowledged', at, {});
const timer = (r: ReturnType<typeof run>, key: string) => r.timers.find((t) => t.key === key);

describe('timer plan', () => {
  test('a warning whose time has passed is planned (fires at once) while the deadline is ahead', () => {
    const r = run([reported(T0, 'I')], min(4.5));
    expect(timer(r, 'INC-1/response/0/warn:0')).toEqual({
      key: 'INC-1/response/0/warn:0',
      generation: min(4),
      kind: 'warning',
      milestone: 'response',
      cycle: 0,
      dueAt: min(4),
      deadline: min(5),
      threshold: { kind: 'fraction', value: 0.8 },
      thresholdIndex: 0,
    });
  });

  test('discovered late: once the deadline has passed only the breach is planned', () => {
    const r = run([reported(T0, 'I')], min(7));
    expect(timer(r, 'INC-1/response/0/warn:0')).toBeUndefined();
    expect(timer(r, 'INC-1/response/0/breach')).toMatchObject({
      dueAt: min(5),
      generation: min(5),
    });
  });

  test('a met milestone has no timers', () => {
    const r = run([reported(T0, 'I'), ack(min(1))], min(1));
    expect(r.timers.filter((t) => t.milestone === 'response')).toEqual([]);
  });

  test('the same events give the same plan; a re-plan keeps keys and changes generations', () => {
    const a = run([reported(T0, 'I')], min(1)).timers;
    expect(run([reported(T0, 'I')], min(2)).timers).toEqual(a);
    const paused = run(
      [
        reported(T0, 'I'),
        ev('incident.paused', min(1), { reason: 'x' }),
        ev('incident.resumed', min(11), { reason: 'x' }),
      ],
      min(12),
    ).timers;
    const gen = (ts: typeof a, k: string) => ts.find((t) => t.key === k)?.generation;
    expect(gen(paused, 'INC-1/diagnosis/0/breach')).toBe(min(70));
    expect(gen(a, 'INC-1/diagnosis/0/breach')).toBe(min(60));
  });

  test('lead-time thresholds: several per milestone, never after the deadline', () => {
    const policy = {
      ...DEFAULT_POLICY,
      milestones: DEFAULT_POLICY.milestones.map((m) =>
        m.id === 'diagnosis'
          ? {
              ...m,
              warnings: [
                { kind: 'lead' as const, ms: 10 * 60_000 },
                { kind: 'fraction' as const, value: 0.5 },
                { kind: 'lead' as const, ms: 5 * 3_600_000 },
              ],
            }
          : m,
      ),
    };
    const r = run([reported(T0, 'I')], T0, policy);
    const d = r.milestones.find((m) => m.milestone === 'diagnosis');
    expect(d?.warnAt).toEqual([T0, min(30), min(50)]);
    expect(
      r.timers
        .filter((t) => t.milestone === 'diagnosis' && t.kind === 'warning')
        .map((t) => [t.key, t.dueAt]),
    ).toEqual([
      ['INC-1/diagnosis/0/warn:0', min(50)],
      ['INC-1/diagnosis/0/warn:1', min(30)],
      ['INC-1/diagnosis/0/warn:2', T0],
    ]);
  });
});

describe('retractions', () => {
  const breach = { milestone: 'response', cycle: 0, dueAt: min(5) };

  test('a late event proving the milestone met at or before the deadline retracts the breach', () => {
    const r = run([reported(T0, 'I'), ack(min(5))], min(7));
    expect(retractions([breach], r)).toEqual([
      { milestone: 'response', cycle: 0, metAt: min(5), dueAt: min(5) },
    ]);
  });

  test('met after the deadline, or not met: no retraction', () => {
    expect(retractions([breach], run([reported(T0, 'I'), ack(min(6))], min(7)))).toEqual([]);
    expect(retractions([breach], run([reported(T0, 'I')], min(7)))).toEqual([]);
  });

  test('lowering the severity never retracts, even when it arrives late', () => {
    const r = run(
      [
        reported(T0, 'I'),
        ev('incident.severity_changed', min(2), { severity: 'IV', reason: 'x' }),
        ack(min(8)),
      ],
      min(9),
    );
    expect(r.milestones[0]).toMatchObject({ milestone: 'response', state: 'met', dueAt: min(15) });
    expect(retractions([breach], r)).toEqual([]);
  });

  test('looks in history for earlier cycles', () => {
    const events = [
      reported(T0, 'I'),
      ev('incident.diagnosed', min(50), {}),
      ev('incident.resolved', min(70), {}),
      ev('incident.reopened', min(80), { reason: 'x' }),
    ];
    expect(
      retractions([{ milestone: 'diagnosis', cycle: 0, dueAt: min(60) }], run(events, min(90))),
    ).toHaveLength(1);
    expect(
      retractions([{ milestone: 'diagnosis', cycle: 1, dueAt: min(140) }], run(events, min(90))),
    ).toEqual([]);
  });
});

describe('escalation', () => {
  test('tier from the policy', () => {
    expect(escalationTierFor(DEFAULT_POLICY, 'arrival')).toBe(2);
    expect(escalationTierFor(DEFAULT_POLICY, 'spare_parts')).toBe(3);
    expect(escalationTierFor(DEFAULT_POLICY, 'unknown')).toBeNull();
  });

  test('one tier change for several breaches, to the highest; never lower; nothing if already there', () => {
    const breaches = (...ms: MilestoneId[]) =>
      ms.map((m) => ({ milestone: m, escalatesToTier: escalationTierFor(DEFAULT_POLICY, m) }));
    expect(escalationFor(1, breaches('response', 'dispatch', 'arrival'))).toEqual({
      fromTier: 1,
      toTier: 2,
      milestone: 'response',
    });
    expect(escalationFor(1, breaches('response', 'solution'))).toEqual({
      fromTier: 1,
      toTier: 3,
      milestone: 'solution',
    });
    expect(escalationFor(2, breaches('response'))).toBeNull();
    expect(escalationFor(3, breaches('diagnosis'))).toBeNull();
    expect(escalationFor(2, breaches('diagnosis'))).toMatchObject({ fromTier: 2, toTier: 3 });
    expect(escalationFor(1, [])).toBeNull();
  });
});
