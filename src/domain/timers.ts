/**
 * Small pure decisions the scheduler makes around timers, breaches and escalation.
 */
import type { Tier } from './events';
import { evaluate, type Evaluation, type MilestoneView, type TimerPlan } from './evaluate';
import type { IncidentState } from './incident';
import { escalationTierFor, type MilestoneId, type Policy } from './policy';

/** True iff the plan still contains a timer with this key and generation: only then may it fire. */
export function isTimerCurrent(
  plan: readonly TimerPlan[],
  key: string,
  generation: number,
): boolean {
  for (const t of plan) if (t.key === key) return t.generation === generation;
  return false;
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
  const plan = evaluate(state, policies, now).timers;
  for (const t of plan) if (t.key === key) return t.generation === generation ? t : null;
  return null;
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
export function retractions(
  reported: readonly ReportedBreach[],
  evaluation: Evaluation,
): Retraction[] {
  const out: Retraction[] = [];
  for (const b of reported) {
    const v = findCycle(evaluation, b.milestone, b.cycle);
    if (v === undefined || v.metAt === null || v.metAt > b.dueAt) continue;
    // met_late cannot be at or before a deadline that is at least as early; a cancelled incident
    // shows its milestones as not_applicable but keeps metAt: a met fact still proves the point.
    out.push({ milestone: b.milestone, cycle: b.cycle, metAt: v.metAt, dueAt: b.dueAt });
  }
  return out;
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
  let toTier: Tier = currentTier;
  for (const m of breached) {
    const tier = escalationTierFor(policy, m);
    if (tier !== null && tier > toTier) toTier = tier;
  }
  return toTier > currentTier ? { fromTier: currentTier, toTier } : null;
}

/** Views of every cycle (history first, then current) — handy for lookups by (milestone, cycle). */
export function allCycles(evaluation: Evaluation): MilestoneView[] {
  return [...evaluation.history, ...evaluation.milestones];
}

/** The view of one (milestone, cycle), current or from history. */
export function findCycle(
  evaluation: Evaluation,
  milestone: MilestoneId,
  cycle: number,
): MilestoneView | undefined {
  for (const v of evaluation.milestones)
    if (v.milestone === milestone && v.cycle === cycle) return v;
  for (const v of evaluation.history) if (v.milestone === milestone && v.cycle === cycle) return v;
  return undefined;
}
