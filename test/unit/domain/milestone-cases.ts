// The table of `milestoneAt` (src/domain/milestone-state.ts): every case is run through the
// TypeScript rule (test/unit/domain/milestone-state.test.ts) and through its SQL twin against
// real Postgres (test/integration/milestone-rules.test.ts), and compared row by row.
import type { MilestoneAt, StoredMilestone } from '../../../src/domain';

export interface MilestoneCase {
  name: string;
  stored: StoredMilestone;
  at: number;
  expected: MilestoneAt;
}

/** 2026-11-24T02:00:00Z: the clock start of every case. */
const T = Date.UTC(2026, 10, 24, 2, 0, 0);
const S = 1000;
const M = 60 * S;

const base: StoredMilestone = {
  state: 'pending',
  startAt: T,
  dueAt: T + 5 * M,
  warnAt: [T + 4 * M],
  metAt: null,
  breachedAt: null,
  stoppedAt: null,
  overduePausedMs: 0,
};
const closed = { isOpen: false, clockStarted: true };
const open = { isOpen: true, clockStarted: true };

export const MILESTONE_AT_CASES: MilestoneCase[] = [
  {
    name: 'pending before its warning: time left ages',
    stored: base,
    at: T + 90 * S + 500,
    expected: {
      state: 'pending',
      breachedAt: null,
      remainingMs: 209_500,
      overdueMs: null,
      ...open,
    },
  },
  {
    name: 'warned once a warning instant is reached',
    stored: base,
    at: T + 4 * M,
    expected: { state: 'warned', breachedAt: null, remainingMs: M, overdueMs: null, ...open },
  },
  {
    name: 'stored warned without warning instants stays warned',
    stored: { ...base, state: 'warned', warnAt: [] },
    at: T + M,
    expected: { state: 'warned', breachedAt: null, remainingMs: 4 * M, overdueMs: null, ...open },
  },
  {
    name: 'one ms before the deadline: not breached, 0 whole seconds left',
    stored: base,
    at: T + 5 * M - 1,
    expected: { state: 'warned', breachedAt: null, remainingMs: 1, overdueMs: null, ...open },
  },
  {
    name: 'breached at exactly the deadline (when the scheduler fires)',
    stored: base,
    at: T + 5 * M,
    expected: { state: 'breached', breachedAt: T + 5 * M, remainingMs: 0, overdueMs: 0, ...open },
  },
  {
    name: 'open and past the deadline: the overdue grows',
    stored: base,
    at: T + 6 * M + 1,
    expected: {
      state: 'breached',
      breachedAt: T + 5 * M,
      remainingMs: -M - 1,
      overdueMs: M + 1,
      ...open,
    },
  },
  {
    name: 'stored breached, running',
    stored: { ...base, state: 'breached', breachedAt: T + 5 * M },
    at: T + 7 * M,
    expected: {
      state: 'breached',
      breachedAt: T + 5 * M,
      remainingMs: -2 * M,
      overdueMs: 2 * M,
      ...open,
    },
  },
  {
    name: 'breached, then settled: the overdue froze at the settling (SPEC §2)',
    stored: { ...base, state: 'breached', breachedAt: T + 5 * M, stoppedAt: T + 7 * M },
    at: T + 90 * M,
    expected: {
      state: 'breached',
      breachedAt: T + 5 * M,
      remainingMs: -2 * M,
      overdueMs: 2 * M,
      ...closed,
    },
  },
  {
    name: 'breached, paused, resumed: the paused time is not overdue',
    stored: { ...base, state: 'breached', breachedAt: T + 5 * M, overduePausedMs: 10 * S },
    at: T + 6 * M,
    expected: {
      state: 'breached',
      breachedAt: T + 5 * M,
      remainingMs: -50 * S,
      overdueMs: 50 * S,
      ...open,
    },
  },
  {
    name: 'paused after the deadline: the breach stands, the overdue stands still',
    stored: { ...base, state: 'paused', breachedAt: T + 5 * M, stoppedAt: T + 5 * M + 2 * S },
    at: T + 9 * M,
    expected: {
      state: 'paused',
      breachedAt: T + 5 * M,
      remainingMs: -2 * S,
      overdueMs: 2 * S,
      ...open,
    },
  },
  {
    name: 'paused before the deadline: no deadline, nothing ages',
    stored: { ...base, state: 'paused', dueAt: null, warnAt: [], stoppedAt: T + 2 * M },
    at: T + 60 * M,
    expected: { state: 'paused', breachedAt: null, remainingMs: null, overdueMs: null, ...open },
  },
  {
    name: 'met on time is final',
    stored: { ...base, state: 'met', metAt: T + M, stoppedAt: T + M },
    at: T + 60 * M,
    expected: { state: 'met', breachedAt: null, remainingMs: null, overdueMs: null, ...closed },
  },
  {
    name: 'met late: breached at the deadline, overdue until met',
    stored: {
      ...base,
      state: 'met_late',
      metAt: T + 7 * M,
      breachedAt: T + 5 * M,
      stoppedAt: T + 7 * M,
    },
    at: T + 60 * M,
    expected: {
      state: 'met_late',
      breachedAt: T + 5 * M,
      remainingMs: null,
      overdueMs: 2 * M,
      ...closed,
    },
  },
  {
    name: 'settled before its deadline: not applicable, counted',
    stored: { ...base, state: 'not_applicable', stoppedAt: T + 3 * M },
    at: T + 60 * M,
    expected: {
      state: 'not_applicable',
      breachedAt: null,
      remainingMs: null,
      overdueMs: null,
      ...closed,
    },
  },
  {
    name: 'a clock that never started (spare_parts, solved within 24 h): not counted',
    stored: {
      ...base,
      state: 'not_applicable',
      startAt: T + 24 * 60 * M,
      dueAt: null,
      warnAt: [],
    },
    at: T + 48 * 60 * M,
    expected: {
      state: 'not_applicable',
      breachedAt: null,
      remainingMs: null,
      overdueMs: null,
      isOpen: false,
      clockStarted: false,
    },
  },
  {
    name: 'a clock that starts later (spare_parts within 24 h): pending, not open, not counted',
    stored: {
      ...base,
      startAt: T + 24 * 60 * M,
      dueAt: T + 26 * 60 * M,
      warnAt: [T + 25 * 60 * M + 36 * M],
    },
    at: T + 60 * M,
    expected: {
      state: 'pending',
      breachedAt: null,
      remainingMs: 25 * 60 * M,
      overdueMs: null,
      isOpen: false,
      clockStarted: false,
    },
  },
  {
    name: 'a clock waiting for its start event (follow_up, incident open): not open, not counted',
    stored: { ...base, startAt: null, dueAt: null, warnAt: [] },
    at: T + 60 * M,
    expected: {
      state: 'pending',
      breachedAt: null,
      remainingMs: null,
      overdueMs: null,
      isOpen: false,
      clockStarted: false,
    },
  },
  {
    name: 'an earlier cycle breached and settled before a reopen stays closed and frozen',
    stored: {
      ...base,
      state: 'breached',
      breachedAt: T + 5 * M,
      stoppedAt: T + 5 * M + 5 * S,
      overduePausedMs: 0,
    },
    at: T + 5 * M + 20 * S,
    expected: {
      state: 'breached',
      breachedAt: T + 5 * M,
      remainingMs: -5 * S,
      overdueMs: 5 * S,
      ...closed,
    },
  },
];
