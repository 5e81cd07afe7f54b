/**
 * The pure part of firing a timer: given the claimed timer row and what the read model says about
 * its incident and milestone at the database's `now`, fire or skip; and which escalation the
 * batch's breaches call for. No I/O here (tested in test/unit/scheduler/decide.test.ts).
 */
import type { SlaTier } from '../contracts/sla-events';

export type TimerKind = 'warning' | 'breach';

/** A claimed row of `timers` (epoch ms). */
export interface ClaimedTimer {
  timerKey: string;
  /** bigint in Postgres; kept as text so nothing is rounded. */
  generation: string;
  incidentId: string;
  milestone: string;
  cycle: number;
  kind: TimerKind;
  threshold: string | null;
  dueAt: number;
  /** The milestone deadline the timer was planned against. */
  deadline: number;
}

/** The incident as the scheduler sees it: its pager fields and its effective tier. */
export interface IncidentSnapshot {
  status: string;
  title: string | null;
  severity: string | null;
  site: string | null;
  assignee: string | null;
  /** greatest(incidents.tier, max(escalations.to_tier)). */
  effectiveTier: SlaTier;
}

export interface MilestoneSnapshot {
  state: string;
  /** Whether milestones.due_at equals the timer's deadline (compared in SQL, to the microsecond). */
  dueMatches: boolean;
  metAt: number | null;
  escalatesToTier: SlaTier | null;
}

export type SkipReason =
  /** No incident row (deleted, or a timer without its incident). */
  | 'incident_missing'
  /** Resolved, closed or cancelled: every open milestone is settled (SPEC §2). */
  | 'incident_not_open'
  | 'milestone_missing'
  /** Met, paused or not applicable. */
  | 'milestone_closed'
  /** The milestone's deadline moved and the timer row has not followed (yet). */
  | 'replanned'
  /** SPEC §4 "discovered late": a warning whose deadline has passed; only the breach is emitted. */
  | 'deadline_passed'
  /** (key, generation) is in timer_fires already: the projector re-inserted a fired timer. */
  | 'already_fired';

export type FireDecision = { fire: true } | { fire: false; reason: SkipReason };

/**
 * States in which a milestone is still open. `warned` and `breached` are time-dependent states the
 * projector may have written when it evaluated at its own `now`; they are open all the same (a
 * breach timer of a milestone projected as `breached` must still fire: it is the breach).
 */
const OPEN_STATES = new Set(['pending', 'warned', 'breached']);

export function decideFiring(
  timer: ClaimedTimer,
  incident: IncidentSnapshot | undefined,
  milestone: MilestoneSnapshot | undefined,
  now: number,
): FireDecision {
  if (!incident) return { fire: false, reason: 'incident_missing' };
  if (incident.status !== 'open') return { fire: false, reason: 'incident_not_open' };
  if (!milestone) return { fire: false, reason: 'milestone_missing' };
  if (!OPEN_STATES.has(milestone.state) || milestone.metAt !== null) {
    return { fire: false, reason: 'milestone_closed' };
  }
  if (!milestone.dueMatches) return { fire: false, reason: 'replanned' };
  if (timer.kind === 'warning' && timer.deadline <= now) {
    return { fire: false, reason: 'deadline_passed' };
  }
  return { fire: true };
}

export interface BreachForEscalation {
  milestone: string;
  escalatesToTier: SlaTier | null;
}

/**
 * SPEC §4 "one page per tier change": the breaches of one incident fired together lead to one
 * escalation, to the highest tier any of them calls for, and only if that is above the effective
 * tier. Never lower. The milestone named is the first breach that reaches that tier.
 * (The same rule as the domain's `escalationFor`, over the tiers the projector stored per
 * milestone, so the scheduler needs no policy lookup.)
 */
export function escalationFor(
  effectiveTier: SlaTier,
  breaches: readonly BreachForEscalation[],
): { fromTier: SlaTier; toTier: SlaTier; milestone: string } | null {
  let best: { toTier: SlaTier; milestone: string } | null = null;
  for (const b of breaches) {
    if (b.escalatesToTier === null || b.escalatesToTier <= effectiveTier) continue;
    if (best === null || b.escalatesToTier > best.toTier) {
      best = { toTier: b.escalatesToTier, milestone: b.milestone };
    }
  }
  return best && { fromTier: effectiveTier, ...best };
}

export function asTier(value: number | null | undefined): SlaTier | null {
  if (value === null || value === undefined) return null;
  return Math.min(3, Math.max(1, Math.trunc(value))) as SlaTier;
}
