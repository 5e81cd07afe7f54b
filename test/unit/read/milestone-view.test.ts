import { milestoneView } from '../../../src/application/milestone-state';
import type { MilestoneRecord } from '../../../src/tables/milestones';

const T0 = Date.parse('2026-11-24T02:00:00.000Z');
const min = 60_000;

function row(over: Partial<MilestoneRecord> = {}): MilestoneRecord {
  return {
    incident_id: 'INC-1',
    milestone: 'response',
    cycle: 0,
    state: 'pending',
    start_at: new Date(T0),
    due_at: new Date(T0 + 5 * min),
    warn_at: [new Date(T0 + 4 * min)],
    met_at: null,
    breached_at: null,
    paused_ms: '0',
    escalates_to_tier: 2,
    stopped_at: null,
    overdue_paused_ms: '0',
    ...over,
  };
}

describe('milestoneView: the state at request time', () => {
  it('is pending before the warning, with whole seconds left', () => {
    const v = milestoneView(row(), T0 + 90_500);
    expect(v.state).toBe('pending');
    expect(v.remainingSeconds).toBe(209);
    expect(v.dueAt).toBe('2026-11-24T02:05:00.000Z');
    expect(v.warnAt).toEqual(['2026-11-24T02:04:00.000Z']);
    expect(v.breachedAt).toBeNull();
  });

  it('is warned from the warning instant on, until the deadline', () => {
    expect(milestoneView(row(), T0 + 4 * min - 1).state).toBe('pending');
    expect(milestoneView(row(), T0 + 4 * min).state).toBe('warned');
    expect(milestoneView(row(), T0 + 5 * min - 1).state).toBe('warned');
  });

  it('is breached at the deadline (not before), with negative time left and breachedAt = due', () => {
    const v = milestoneView(row(), T0 + 5 * min);
    expect(v).toMatchObject({ state: 'breached', remainingSeconds: 0 });
    expect(v.breachedAt).toBe('2026-11-24T02:05:00.000Z');
    expect(milestoneView(row(), T0 + 6 * min).remainingSeconds).toBe(-60);
  });

  it('keeps a stored detection time as breachedAt', () => {
    const v = milestoneView(row({ breached_at: new Date(T0 + 5 * min + 300) }), T0 + 6 * min);
    expect(v.breachedAt).toBe('2026-11-24T02:05:00.300Z');
  });

  it('treats a stored warned state as warned while the deadline is ahead, breached after', () => {
    expect(milestoneView(row({ state: 'warned', warn_at: [] }), T0).state).toBe('warned');
    expect(milestoneView(row({ state: 'warned' }), T0 + 5 * min).state).toBe('breached');
  });

  it('leaves met and met_late final, with no time left', () => {
    const met = milestoneView(row({ state: 'met', met_at: new Date(T0 + min) }), T0 + 10 * min);
    expect(met).toMatchObject({ state: 'met', remainingSeconds: null, breachedAt: null });
    expect(met.metAt).toBe('2026-11-24T02:01:00.000Z');
    const late = milestoneView(
      row({ state: 'met_late', met_at: new Date(T0 + 7 * min) }),
      T0 + 10 * min,
    );
    expect(late).toMatchObject({ state: 'met_late', remainingSeconds: null });
    expect(late.breachedAt).toBe('2026-11-24T02:05:00.000Z');
  });

  it('does not breach a paused or not-applicable milestone when its old deadline passes', () => {
    const paused = row({ state: 'paused', due_at: null, stopped_at: new Date(T0 + 2 * min) });
    expect(milestoneView(paused, T0 + 60 * min)).toMatchObject({
      state: 'paused',
      remainingSeconds: null,
      breachedAt: null,
    });
    expect(milestoneView(row({ state: 'not_applicable' }), T0 + 60 * min).state).toBe(
      'not_applicable',
    );
  });

  it('keeps a breach after the milestone settled or paused, and its overdue stops (SPEC §2)', () => {
    const at = new Date(T0 + 5 * min);
    const settled = row({
      state: 'breached',
      breached_at: at,
      stopped_at: new Date(T0 + 7 * min),
    });
    for (const now of [T0 + 9 * min, T0 + 90 * min]) {
      expect(milestoneView(settled, now)).toMatchObject({
        state: 'breached',
        breachedAt: at.toISOString(),
        remainingSeconds: -120,
      });
    }
    const paused = row({ state: 'paused', breached_at: at, stopped_at: new Date(T0 + 6 * min) });
    expect(milestoneView(paused, T0 + 9 * min)).toMatchObject({
      state: 'paused',
      breachedAt: at.toISOString(),
      remainingSeconds: -60,
    });
  });

  it('reports paused time in whole seconds and copes with a milestone that has no deadline yet', () => {
    const v = milestoneView(row({ due_at: null, warn_at: [], paused_ms: '90500' }), T0);
    expect(v).toMatchObject({ state: 'pending', remainingSeconds: null, pausedSeconds: 90 });
  });
});
