/**
 * Small pure decisions the scheduler makes around timers, breaches and escalation.
 */
import type { Tier } from './events';
import type { Evaluation, MilestoneView, TimerPlan } from './evaluate';
import type { IncidentState } from './incident';
import type { MilestoneId, Policy } from './policy';

/** True iff the plan still contains a timer with this key and generation: only then may it fire. */
export function isTimerCurrent(plan: readonly TimerPlan[], key: string, generation: number): boolean {
  void plan;
  void key;
  void generation;
  throw new Error('not implemented');
}

/**
 * At fire time: re-evaluates the incident at `now` and returns the planned timer if it is still
 * current (same key and generation, milestone still open, not met, paused or settled); else null.
 */
export function timerToFire(
  state: IncidentState,
  policies: Policy | readonly Policy[],
  key: string,
  generation: number,
  now: number,
): TimerPlan | null {
  void state;
  void policies;
  void key;
  void generation;
  void now;
  throw new Error('not implemented');
}

/** A breach the service has reported (from its `sla.breached` event). */
export interface ReportedBreach {
  readonly milestone: MilestoneId;
  readonly cycle: number;
  /** The deadline the breach was reported against (`data.dueAt`). */
  readonly dueAt: number;
}

export interface Retraction {
  readonly milestone: MilestoneId;
  readonly cycle: number;
  readonly metAt: number;
  readonly dueAt: number;
}

/**
 * Which reported breaches `evaluation` proves wrong: the milestone (same cycle) is now known to
 * have been met at or before the deadline the breach was reported against. A later deadline
 * (lower severity, a pause) never retracts (SPEC §4 "Re-grading down").
 */
export function retractions(reported: readonly ReportedBreach[], evaluation: Evaluation): Retraction[] {
  void reported;
  void evaluation;
  throw new Error('not implemented');
}

/**
 * The automatic escalation that breaches of `breached` call for, given the incident's tier: the
 * highest tier they lead to, if above `currentTier`. One tier change per call (one page), never
 * lower. Null if nothing to do.
 */
export function escalationFor(
  currentTier: Tier,
  breached: readonly MilestoneId[],
  policy: Policy,
): { fromTier: Tier; toTier: Tier } | null {
  void currentTier;
  void breached;
  void policy;
  throw new Error('not implemented');
}

/** Views of every cycle (history first, then current) — handy for lookups by (milestone, cycle). */
export function allCycles(evaluation: Evaluation): MilestoneView[] {
  return [...evaluation.history, ...evaluation.milestones];
}
