// The follow_up milestone (SPEC §2, seed §4.5.7.6 回访; issue 15 item 4): its clock starts when
// the incident is resolved (or closed), it is met by incident.followed_up, 72 h by default, warns
// at 80 % and breaches like the others, and does not escalate in the default policy.
import {
  DEFAULT_POLICY,
  HOUR,
  escalationFor,
  milestoneAt,
  type FollowUpChannel,
  type Policy,
} from '../../../src/domain';
import { T0, ev, hrs, milestone, min, reported, run } from './fixtures';

const resolved = (at: number) => ev('incident.resolved', at, { resolution: 'replaced PSU' });
const closed = (at: number) => ev('incident.closed', at, { confirmedBy: 'customer' });
const cancelled = (at: number) => ev('incident.cancelled', at, { reason: 'duplicate' });
const reopened = (at: number) => ev('incident.reopened', at, { reason: 'failed again' });
const followedUp = (at: number, channel: FollowUpChannel = 'phone') =>
  ev('incident.followed_up', at, { channel, satisfaction: 5 });

const followUp = (events: Parameters<typeof run>[0], now: number, policy?: Policy) =>
  milestone(events, now, 'follow_up', policy);
const followUpTimers = (events: Parameters<typeof run>[0], now: number) =>
  run(events, now)
    .timers.filter((t) => t.milestone === 'follow_up')
    .map((t) => [t.key, t.dueAt]);
const followUpHistory = (events: Parameters<typeof run>[0], now: number) =>
  run(events, now)
    .history.filter((h) => h.milestone === 'follow_up')
    .map((h) => [h.cycle, h.state, h.startAt, h.stoppedAt]);

describe('follow_up in the default policy', () => {
  test('72 h at every severity, one 80 % warning, no escalation, starts on the resolution', () => {
    const rule = DEFAULT_POLICY.milestones.find((m) => m.id === 'follow_up');
    expect(rule).toMatchObject({
      metBy: 'incident.followed_up',
      limits: { I: 72 * HOUR, II: 72 * HOUR, III: 72 * HOUR, IV: 72 * HOUR },
      startsOn: 'resolution',
      startAfterMs: 0,
      warnings: [{ kind: 'fraction', value: 0.8 }],
      pausable: false,
      escalatesToTier: null,
    });
  });
});

describe('follow_up clock', () => {
  test('while the incident is open it waits: no start, no deadline, no timers, not counted', () => {
    const m = followUp([reported(T0, 'I')], hrs(100));
    expect(m).toMatchObject({
      cycle: 0,
      state: 'pending',
      startAt: null,
      dueAt: null,
      warnAt: [],
      remainingMs: null,
    });
    expect(followUpTimers([reported(T0, 'I')], hrs(100))).toEqual([]);
    // What the projector stores for it is neither open nor counted (milestoneAt's clockStarted).
    expect(milestoneAt({ ...m, breachedAt: null }, hrs(100))).toMatchObject({
      isOpen: false,
      clockStarted: false,
    });
  });

  test('starts at the resolution: due 72 h later, warned at 80 % (57.6 h), both timers planned', () => {
    const events = [reported(T0, 'II'), resolved(hrs(5))];
    expect(followUp(events, hrs(6))).toMatchObject({
      state: 'pending',
      startAt: hrs(5),
      dueAt: hrs(77),
      warnAt: [hrs(5 + 57.6)],
      remainingMs: 71 * HOUR,
      escalatesToTier: null,
    });
    expect(followUpTimers(events, hrs(6))).toEqual([
      ['INC-1/follow_up/0/warn:0', hrs(5 + 57.6)],
      ['INC-1/follow_up/0/breach', hrs(77)],
    ]);
    expect(followUp(events, hrs(63)).state).toBe('warned');
  });

  test('left undone, it breaches at the deadline and the overdue grows', () => {
    const m = followUp([reported(), resolved(hrs(5))], hrs(78));
    expect(m).toMatchObject({ state: 'breached', breachedAt: hrs(77), remainingMs: -HOUR });
  });

  test('met by incident.followed_up within 72 h (any channel); no timers remain', () => {
    const events = [reported(), resolved(hrs(5)), followedUp(hrs(30), 'form')];
    expect(followUp(events, hrs(100))).toMatchObject({
      state: 'met',
      metAt: hrs(30),
      breachedAt: null,
    });
    expect(followUpTimers(events, hrs(31))).toEqual([]);
  });

  test('followed up after 72 h: met late, the breach at the deadline', () => {
    expect(followUp([reported(), resolved(hrs(5)), followedUp(hrs(80))], hrs(81))).toMatchObject({
      state: 'met_late',
      metAt: hrs(80),
      breachedAt: hrs(77),
    });
  });

  test('a follow-up before the resolution is not the follow-up of the handled fault', () => {
    const m = followUp([reported(), followedUp(hrs(2)), resolved(hrs(5))], hrs(6));
    expect(m).toMatchObject({ state: 'pending', metAt: null, startAt: hrs(5) });
  });

  test('a follow-up at the very millisecond of the resolution counts', () => {
    expect(followUp([reported(), followedUp(hrs(5)), resolved(hrs(5))], hrs(6)).state).toBe('met');
  });

  test('closed without a resolution: starts at the close', () => {
    expect(followUp([reported(), closed(hrs(3))], hrs(4))).toMatchObject({
      startAt: hrs(3),
      dueAt: hrs(75),
    });
  });

  test('closed after the resolution: the clock keeps the resolution start, and may be met', () => {
    const events = [reported(), resolved(hrs(5)), closed(hrs(20))];
    expect(followUp(events, hrs(21))).toMatchObject({ startAt: hrs(5), dueAt: hrs(77) });
    expect(followUp([...events, followedUp(hrs(40))], hrs(41)).state).toBe('met');
  });

  test('the other milestones settle at the resolution as before', () => {
    const r = run([reported(T0, 'I'), resolved(min(30))], min(31));
    expect(r.milestones.filter((m) => m.milestone !== 'follow_up').map((m) => m.state)).toEqual(
      Array(6).fill(expect.stringMatching(/^(breached|not_applicable)$/)),
    );
    expect(r.timers.every((t) => t.milestone === 'follow_up')).toBe(true);
  });
});

describe('follow_up and cancel, reopen', () => {
  test('cancelled while open: not applicable; cancelled after the resolution: settled, no breach', () => {
    expect(followUp([reported(), cancelled(hrs(1))], hrs(100)).state).toBe('not_applicable');
    const late = [reported(), resolved(hrs(1)), cancelled(hrs(90))];
    expect(followUp(late, hrs(100))).toMatchObject({
      state: 'not_applicable',
      breachedAt: null,
    });
    expect(followUpTimers(late, hrs(100))).toEqual([]);
  });

  test('a reopen before the follow-up ends that cycle unbreached; the next resolution owes a new one', () => {
    const events = [reported(), resolved(hrs(5)), reopened(hrs(10))];
    expect(followUp(events, hrs(11))).toMatchObject({ cycle: 1, state: 'pending', startAt: null });
    expect(followUpHistory(events, hrs(11))).toEqual([[0, 'not_applicable', hrs(5), hrs(10)]]);
    expect(followUpTimers(events, hrs(11))).toEqual([]);
    expect(followUp([...events, resolved(hrs(20))], hrs(21))).toMatchObject({
      cycle: 1,
      startAt: hrs(20),
      dueAt: hrs(92),
    });
  });

  test('a reopen after the deadline: the breach of that cycle stands, frozen at the reopen', () => {
    const events = [reported(), resolved(hrs(5)), reopened(hrs(80))];
    expect(followUpHistory(events, hrs(100))).toEqual([[0, 'breached', hrs(5), hrs(80)]]);
    const earlier = run(events, hrs(100)).history.find((h) => h.milestone === 'follow_up')!;
    expect(earlier.remainingMs).toBe(-3 * HOUR);
  });

  test('a follow-up done before a reopen stays met; the next resolution owes another', () => {
    const events = [reported(), resolved(hrs(5)), followedUp(hrs(6)), reopened(hrs(10))];
    expect(followUpHistory(events, hrs(11))).toEqual([[0, 'met', hrs(5), hrs(6)]]);
    expect(followUp([...events, resolved(hrs(12))], hrs(13))).toMatchObject({
      cycle: 1,
      state: 'pending',
      startAt: hrs(12),
    });
  });

  test('a follow-up while reopened (open) does not meet the waiting cycle', () => {
    const events = [reported(), resolved(hrs(5)), reopened(hrs(10)), followedUp(hrs(11))];
    expect(followUp(events, hrs(12))).toMatchObject({ cycle: 1, metAt: null, startAt: null });
  });
});

describe('follow_up under other policies', () => {
  const withTier = (tier: 1 | 2 | 3 | null, startAfterMs = 0): Policy => ({
    ...DEFAULT_POLICY,
    milestones: DEFAULT_POLICY.milestones.map((m) =>
      m.id === 'follow_up' ? { ...m, escalatesToTier: tier, startAfterMs } : m,
    ),
  });

  test('no escalation by default; a policy may set a tier', () => {
    const breach = { milestone: 'follow_up', escalatesToTier: null };
    expect(escalationFor(1, [breach])).toBeNull();
    const m = followUp([reported(), resolved(hrs(5))], hrs(78), withTier(2));
    expect(m.escalatesToTier).toBe(2);
    expect(escalationFor(1, [{ milestone: 'follow_up', escalatesToTier: 2 }])).toEqual({
      fromTier: 1,
      toTier: 2,
      milestone: 'follow_up',
    });
  });

  test('startAfter counts from the resolution (here 24 h): pending until then, not counted', () => {
    const policy = withTier(null, 24 * HOUR);
    const events = [reported(), resolved(hrs(5))];
    expect(followUp(events, hrs(6), policy)).toMatchObject({ state: 'pending', startAt: hrs(29) });
    expect(followUp(events, hrs(30), policy)).toMatchObject({
      state: 'pending',
      startAt: hrs(29),
      dueAt: hrs(29 + 72),
    });
    // Reopened before the delay ran out: that cycle never applied.
    expect(
      run([...events, reopened(hrs(10))], hrs(11), policy)
        .history.filter((h) => h.milestone === 'follow_up')
        .map((h) => h.state),
    ).toEqual(['not_applicable']);
  });
});
