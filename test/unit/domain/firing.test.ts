import {
  decideFiring,
  escalationFor,
  type ClaimedTimer,
  type IncidentSnapshot,
  type MilestoneSnapshot,
} from '../../../src/domain';

const NOW = Date.parse('2026-11-24T10:05:00Z');
const timer = (over: Partial<ClaimedTimer> = {}): ClaimedTimer => ({
  timerKey: 'INC-1/response/0/breach',
  generation: String(NOW),
  incidentId: 'INC-1',
  milestone: 'response',
  cycle: 0,
  kind: 'breach',
  threshold: null,
  dueAt: NOW,
  deadline: NOW,
  ...over,
});
const incident = (over: Partial<IncidentSnapshot> = {}): IncidentSnapshot => ({
  status: 'open',
  title: 'Core switch down',
  severity: 'I',
  site: 'DC',
  assignee: 'a',
  effectiveTier: 1,
  ...over,
});
const milestone = (over: Partial<MilestoneSnapshot> = {}): MilestoneSnapshot => ({
  state: 'pending',
  dueMatches: true,
  metAt: null,
  breachedAt: null,
  escalatesToTier: 2,
  ...over,
});

describe('decideFiring', () => {
  test.each(['pending', 'warned', 'breached'])(
    'fires while the milestone is open (%s)',
    (state) => {
      expect(decideFiring(timer(), incident(), milestone({ state }), NOW)).toEqual({ fire: true });
    },
  );

  test.each([
    ['no incident', undefined, milestone(), 'incident_missing'],
    ['resolved', incident({ status: 'resolved' }), milestone(), 'incident_not_open'],
    ['closed', incident({ status: 'closed' }), milestone(), 'incident_not_open'],
    ['cancelled', incident({ status: 'cancelled' }), milestone(), 'incident_not_open'],
    ['no milestone', incident(), undefined, 'milestone_missing'],
    ['met', incident(), milestone({ state: 'met', metAt: NOW - 1 }), 'milestone_closed'],
    ['met late', incident(), milestone({ state: 'met_late', metAt: NOW - 1 }), 'milestone_closed'],
    ['paused before its deadline', incident(), milestone({ state: 'paused' }), 'milestone_closed'],
    ['not applicable', incident(), milestone({ state: 'not_applicable' }), 'milestone_closed'],
    ['met but state stale', incident(), milestone({ metAt: NOW - 1 }), 'milestone_closed'],
    ['deadline moved', incident(), milestone({ dueMatches: false }), 'replanned'],
  ] as const)('skips: %s', (_name, inc, ms, reason) => {
    expect(decideFiring(timer(), inc, ms, NOW)).toEqual({ fire: false, reason });
  });

  test('a warning fires while its deadline is ahead, is skipped once it passed (SPEC §4)', () => {
    const warning = timer({ kind: 'warning', dueAt: NOW - 60_000, deadline: NOW + 1 });
    expect(decideFiring(warning, incident(), milestone(), NOW)).toEqual({ fire: true });
    const late = timer({ kind: 'warning', dueAt: NOW - 60_000, deadline: NOW });
    expect(decideFiring(late, incident(), milestone(), NOW)).toEqual({
      fire: false,
      reason: 'deadline_passed',
    });
  });

  test('paused after its deadline: the breach fires (the breach stands), a warning does not', () => {
    const paused = milestone({ state: 'paused', breachedAt: NOW - 5000 });
    expect(decideFiring(timer({ deadline: NOW - 5000 }), incident(), paused, NOW)).toEqual({
      fire: true,
    });
    const warning = timer({ kind: 'warning', dueAt: NOW - 6000, deadline: NOW - 5000 });
    expect(decideFiring(warning, incident(), paused, NOW)).toEqual({
      fire: false,
      reason: 'milestone_closed',
    });
  });

  test('a breach fires at and after its deadline', () => {
    expect(decideFiring(timer({ deadline: NOW - 5000 }), incident(), milestone(), NOW)).toEqual({
      fire: true,
    });
  });
});

describe('escalationFor (one page per tier change)', () => {
  test('several breaches to tier 2: one escalation 1 → 2', () => {
    const b = ['response', 'dispatch', 'arrival'].map((m) => ({
      milestone: m,
      escalatesToTier: 2 as const,
    }));
    expect(escalationFor(1, b)).toEqual({ fromTier: 1, toTier: 2, milestone: 'response' });
  });

  test('the highest tier wins, in one step', () => {
    expect(
      escalationFor(1, [
        { milestone: 'response', escalatesToTier: 2 },
        { milestone: 'diagnosis', escalatesToTier: 3 },
      ]),
    ).toEqual({ fromTier: 1, toTier: 3, milestone: 'diagnosis' });
  });

  test('nothing when the incident already has the tier, or the milestone does not escalate', () => {
    expect(escalationFor(2, [{ milestone: 'response', escalatesToTier: 2 }])).toBeNull();
    expect(escalationFor(3, [{ milestone: 'diagnosis', escalatesToTier: 2 }])).toBeNull();
    expect(escalationFor(1, [{ milestone: 'x', escalatesToTier: null }])).toBeNull();
    expect(escalationFor(1, [])).toBeNull();
  });
});
