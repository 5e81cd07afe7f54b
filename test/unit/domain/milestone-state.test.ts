// milestoneAt: the state of a stored milestone at an instant (src/domain/milestone-state.ts).
import fc from 'fast-check';
import {
  DEFAULT_POLICY,
  HOUR,
  MINUTE,
  SECOND,
  evaluate,
  milestoneAt,
  onAtRiskList,
  standDownFor,
  stoodDown,
  effectiveTime,
  forwardedEscalations,
  wholeSeconds,
  type IncidentEvent,
  type MilestoneView,
  type StoredMilestone,
} from '../../../src/domain';
import { MILESTONE_AT_CASES } from './milestone-cases';
import { T0, ev, reported, stateOf } from './fixtures';

describe('milestoneAt: the table (also run against its SQL twin in Postgres)', () => {
  test.each(MILESTONE_AT_CASES.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(milestoneAt(c.stored, c.at)).toEqual(c.expected);
  });

  test('whole seconds round down, as SQL floor does', () => {
    expect([1, 999, 1000, 0, -1, -1000, -1001].map(wholeSeconds)).toEqual([0, 0, 1, 0, -1, -1, -2]);
  });
});

/** What the projector stores of a view (src/projector/project-incident.ts milestoneRow). */
function stored(v: MilestoneView): StoredMilestone {
  return {
    state: v.state,
    startAt: v.startAt,
    dueAt: v.dueAt,
    warnAt: v.warnAt,
    metAt: v.metAt,
    breachedAt: v.breachedAt,
    stoppedAt: v.stoppedAt,
    overduePausedMs: v.overduePausedMs,
  };
}

describe('milestoneAt agrees with evaluate: stored at the last event, read later = evaluated later', () => {
  const m = (x: number) => T0 + x * MINUTE;
  const e = {
    pause: (at: number) => ev('incident.paused', at, { reason: 'p' }),
    resume: (at: number) => ev('incident.resumed', at, { reason: 'r' }),
    resolved: (at: number) => ev('incident.resolved', at, {}),
    closed: (at: number) => ev('incident.closed', at, {}),
    cancelled: (at: number) => ev('incident.cancelled', at, { reason: 'dup' }),
    reopened: (at: number) => ev('incident.reopened', at, { reason: 'again' }),
    ack: (at: number) => ev('incident.acknowledged', at, {}),
    diagnosed: (at: number) => ev('incident.diagnosed', at, {}),
    regrade: (at: number) => ev('incident.severity_changed', at, { severity: 'III', reason: 'x' }),
  };
  const kinds = Object.keys(e) as (keyof typeof e)[];
  const story = fc.array(fc.tuple(fc.constantFrom(...kinds), fc.integer({ min: 1, max: 200 })), {
    maxLength: 8,
  });

  test('for any story and any later instant', () => {
    fc.assert(
      fc.property(story, fc.integer({ min: 0, max: 30 * 60 }), (steps, laterMin) => {
        const events: IncidentEvent[] = [reported(T0, 'I'), ...steps.map(([k, at]) => e[k](m(at)))];
        const last = Math.max(...events.map((x) => x.at));
        const later = last + laterMin * MINUTE;
        const state = stateOf(events);
        const before = evaluate(state, DEFAULT_POLICY, last);
        const after = evaluate(state, DEFAULT_POLICY, later);
        const views = (r: typeof before) => [...r.history, ...r.milestones];
        views(after).forEach((v, i) => {
          const s = views(before)[i]!;
          // A clock not started at the last event has no deadline yet in the view (the
          // projector stores its planned one): compare those once started only.
          if (s.state === 'pending' && s.dueAt === null) return;
          const got = milestoneAt(stored(s), later);
          expect({
            state: got.state,
            breachedAt: got.breachedAt,
            remainingMs: got.remainingMs,
          }).toEqual({ state: v.state, breachedAt: v.breachedAt, remainingMs: v.remainingMs });
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe('overdue and paused time (SPEC §2)', () => {
  const run = (events: IncidentEvent[], now: number) =>
    evaluate(stateOf(events), DEFAULT_POLICY, now);
  const diag = (events: IncidentEvent[], now: number) =>
    run(events, now).milestones.find((v) => v.milestone === 'diagnosis')!;

  test('pausedMs is what the deadline moved by: a pause after the deadline moves nothing', () => {
    const events = [
      reported(T0, 'II'),
      ev('incident.paused', T0 + HOUR + 2 * SECOND, { reason: 'p' }),
      ev('incident.resumed', T0 + HOUR + 12 * SECOND, { reason: 'r' }),
    ];
    expect(diag(events, T0 + HOUR + 20 * SECOND)).toMatchObject({
      dueAt: T0 + HOUR,
      pausedMs: 0,
      overduePausedMs: 10 * SECOND,
      remainingMs: -10 * SECOND,
    });
  });

  test('a pause spanning nothing but time before the deadline counts whole', () => {
    const events = [
      reported(T0, 'II'),
      ev('incident.paused', T0 + 10 * MINUTE, { reason: 'p' }),
      ev('incident.resumed', T0 + 20 * MINUTE, { reason: 'r' }),
    ];
    expect(diag(events, T0 + 30 * MINUTE)).toMatchObject({
      dueAt: T0 + 70 * MINUTE,
      pausedMs: 10 * MINUTE,
      overduePausedMs: 0,
    });
  });
});

describe('effective time (SPEC §3)', () => {
  test('the earlier of time and acceptance; unknown acceptance: the time', () => {
    expect(effectiveTime(1000, 900)).toBe(900);
    expect(effectiveTime(1000, 1100)).toBe(1000);
    expect(effectiveTime(1000, null)).toBe(1000);
  });
});

describe('forwarded manual escalations (SPEC §4: one page per tier change)', () => {
  const esc = (toTier: 1 | 2 | 3) => ev('incident.escalated', T0, { toTier, reason: 'r' });
  test('only raises, each above the last', () => {
    const out = forwardedEscalations(1, [esc(2), esc(2), esc(1), esc(3), esc(3)]);
    expect(out.map((f) => [f.fromTier, f.toTier])).toEqual([
      [1, 2],
      [2, 3],
    ]);
    expect(forwardedEscalations(3, [esc(2), esc(3)])).toEqual([]);
  });
});

describe('standDownFor (SPEC §4 "Stand-down")', () => {
  const paged = { lastAutomaticAt: 100, lastStandDownAt: null };
  test.each(['resolved', 'closed', 'cancelled'] as const)(
    'an automatically paged incident that is %s stands down once',
    (how) => {
      expect(standDownFor('open', how, 0, paged)).toEqual({
        cycle: 0,
        settledAs: how,
        escalatedAt: 100,
      });
      // Already settled before (resolved, then closed): nothing more.
      expect(standDownFor('resolved', how, 0, paged)).toBeNull();
    },
  );

  test('nothing without an automatic page, while open, or after a stand-down with no page since', () => {
    const none = { lastAutomaticAt: null, lastStandDownAt: null };
    expect(standDownFor('open', 'resolved', 0, none)).toBeNull();
    expect(standDownFor('open', 'open', 0, paged)).toBeNull();
    expect(standDownFor(undefined, 'resolved', 0, paged)).toBeNull();
    expect(
      standDownFor('open', 'resolved', 1, { lastAutomaticAt: 100, lastStandDownAt: 150 }),
    ).toBeNull();
  });

  test('reopened and paged again: a second stand-down, for the new cycle', () => {
    expect(
      standDownFor('open', 'closed', 1, { lastAutomaticAt: 200, lastStandDownAt: 150 }),
    ).toEqual({ cycle: 1, settledAs: 'closed', escalatedAt: 200 });
  });
});

describe('stoodDown: nothing follows a stand-down for its cycle (SPEC §4)', () => {
  const owed = { cycle: 0, settledAs: 'resolved', escalatedAt: 100 } as const;
  test.each([
    ['open, even with a stand-down owed', 'open', owed, 100, 150, false],
    ['settled with a stand-down owed now', 'resolved', owed, 100, null, true],
    ['settled, the last stand-down after the last page', 'closed', null, 100, 150, true],
    ['settled, a stand-down at the very instant of the page', 'closed', null, 100, 100, true],
    ['settled, paged again since the last stand-down', 'closed', null, 200, 150, false],
    ['settled, never stood down', 'cancelled', null, 100, null, false],
    ['settled, never paged automatically, a stand-down recorded', 'resolved', null, null, 50, true],
  ] as const)('%s', (_name, status, standDown, lastAutomaticAt, lastStandDownAt, expected) => {
    expect(stoodDown(status, standDown, { lastAutomaticAt, lastStandDownAt })).toBe(expected);
  });
});

describe('onAtRiskList: what GET /v1/sla/at-risk lists (also run against its SQL twin)', () => {
  const byName = (name: string) => MILESTONE_AT_CASES.find((c) => c.name === name)!;
  const HOUR = 3600_000;
  test.each([
    ['pending before its warning: time left ages', HOUR, false, true],
    ['pending before its warning: time left ages', 60_000, false, false],
    ['warned once a warning instant is reached', HOUR, false, true],
    ['open and past the deadline: the overdue grows', HOUR, false, false],
    ['open and past the deadline: the overdue grows', HOUR, true, true],
    ['stored breached, running', HOUR, true, true],
    ['breached, then settled: the overdue froze at the settling (SPEC §2)', HOUR, true, false],
    ['paused after the deadline: the breach stands, the overdue stands still', HOUR, true, false],
    ['paused before the deadline: no deadline, nothing ages', HOUR, true, false],
    [
      'a clock that starts later (spare_parts within 24 h): pending, not open, not counted',
      30 * 24 * HOUR,
      true,
      false,
    ],
  ] as const)('%s (horizon %d ms, includeBreached %s): %s', (name, horizon, include, listed) => {
    const c = byName(name);
    expect(onAtRiskList(c.stored, c.at, horizon, include)).toBe(listed);
  });
});
