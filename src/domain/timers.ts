/**
 * The pure decisions around timers, breaches, escalation and stand-down: the one place each rule
 * lives. The scheduler (src/scheduler/fire.ts) and the projector (src/projector/apply-batch.ts)
 * call these over what they read; no I/O here.
 */
import type { IncidentEvent, IncidentEventOf, Tier } from './events';
import type { Evaluation, IncidentStatus, MilestoneView, TimerKind } from './evaluate';
import type { MilestoneId } from './policy';

// ---------------------------------------------------------------------------------------------
// Firing (SPEC §4 "Discovered late", "Firing rules")

/** A claimed timer row (table `timers`), instants in epoch ms. */
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

/** The incident as the scheduler sees it when a timer is due: its pager fields and tier. */
export interface IncidentSnapshot {
  status: string;
  title: string | null;
  severity: string | null;
  site: string | null;
  assignee: string | null;
  /** greatest(incidents.tier, max(escalations.to_tier)). */
  effectiveTier: Tier;
}

/** The stored milestone (its cycle) the timer belongs to. */
export interface MilestoneSnapshot {
  state: string;
  /** Whether milestones.due_at equals the timer's deadline (compared in SQL, to the microsecond). */
  dueMatches: boolean;
  metAt: number | null;
  /** The deadline that passed unmet, as the projector stored it; null if not breached. */
  breachedAt: number | null;
  escalatesToTier: Tier | null;
}

export type SkipReason =
  /** No incident row (deleted, or a timer without its incident). */
  | 'incident_missing'
  /** Resolved, closed or cancelled: every open milestone is settled (SPEC §2). */
  | 'incident_not_open'
  | 'milestone_missing'
  /** Met, not applicable, or paused before its deadline. */
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
const FIRING_STATES = new Set(['pending', 'warned', 'breached']);

/**
 * Whether the milestone is open for this timer. A breach timer of a milestone paused only after
 * its deadline fires: the deadline passed unmet while the clock ran, and a pause never undoes a
 * breach (SPEC §2), e.g. an imported history `reported`, then `paused` after the deadline.
 */
function openFor(timer: ClaimedTimer, milestone: MilestoneSnapshot): boolean {
  if (milestone.metAt !== null) return false;
  if (FIRING_STATES.has(milestone.state)) return true;
  return timer.kind === 'breach' && milestone.state === 'paused' && milestone.breachedAt !== null;
}

/**
 * Fire or skip a due timer, at `now` (the database clock). SPEC §4: nothing fires for a
 * milestone that is met, paused (before its deadline) or settled at the moment of firing; a
 * warning whose deadline has passed is skipped (only the breach is emitted); a timer whose
 * deadline no longer matches the milestone's was re-planned and is skipped (its successor fires).
 */
export function decideFiring(
  timer: ClaimedTimer,
  incident: IncidentSnapshot | undefined,
  milestone: MilestoneSnapshot | undefined,
  now: number,
): FireDecision {
  if (!incident) return { fire: false, reason: 'incident_missing' };
  if (incident.status !== 'open') return { fire: false, reason: 'incident_not_open' };
  if (!milestone) return { fire: false, reason: 'milestone_missing' };
  if (!openFor(timer, milestone)) return { fire: false, reason: 'milestone_closed' };
  if (!milestone.dueMatches) return { fire: false, reason: 'replanned' };
  if (timer.kind === 'warning' && timer.deadline <= now) {
    return { fire: false, reason: 'deadline_passed' };
  }
  return { fire: true };
}

// ---------------------------------------------------------------------------------------------
// Escalation (SPEC §4 "One page per tier change")

export interface BreachForEscalation {
  milestone: string;
  /** The tier a breach of this milestone escalates to (policy, stored per milestone); null: none. */
  escalatesToTier: Tier | null;
}

/**
 * SPEC §4 "one page per tier change": breaches of one incident fired together lead to one
 * escalation, to the highest tier any of them calls for, and only if that is above the effective
 * tier. Never lower. The milestone named is the first breach that reaches that tier.
 */
export function escalationFor(
  effectiveTier: Tier,
  breaches: readonly BreachForEscalation[],
): { fromTier: Tier; toTier: Tier; milestone: string } | null {
  let best: { toTier: Tier; milestone: string } | null = null;
  for (const b of breaches) {
    if (b.escalatesToTier === null || b.escalatesToTier <= effectiveTier) continue;
    if (best === null || b.escalatesToTier > best.toTier) {
      best = { toTier: b.escalatesToTier, milestone: b.milestone };
    }
  }
  return best && { fromTier: effectiveTier, ...best };
}

/** A manual `incident.escalated` that raises the tier, so it is paged (forwarded). */
export interface ForwardedEscalation {
  event: IncidentEventOf<'incident.escalated'>;
  fromTier: Tier;
  toTier: Tier;
}

/**
 * SPEC §4: every escalation reaches sla.escalations, one page per tier change, never down. Of the
 * manual escalations among `events` (in the order given), those that raise the tier above
 * `effectiveTier` and above each other.
 */
export function forwardedEscalations(
  effectiveTier: Tier,
  events: readonly IncidentEvent[],
): ForwardedEscalation[] {
  const out: ForwardedEscalation[] = [];
  let tier = effectiveTier;
  for (const e of events) {
    if (e.type !== 'incident.escalated' || e.data.toTier <= tier) continue;
    out.push({ event: e, fromTier: tier, toTier: e.data.toTier });
    tier = e.data.toTier;
  }
  return out;
}

/** Clamps a stored tier to 1–3 (null stays null). */
export function asTier(value: number | null | undefined): Tier | null {
  if (value === null || value === undefined) return null;
  return Math.min(3, Math.max(1, Math.trunc(value))) as Tier;
}

// ---------------------------------------------------------------------------------------------
// Stand-down (SPEC §4 "Stand-down")

/** What the projector knows about the incident's automatic pages and earlier stand-downs. */
export interface PagingRecord {
  /** Latest automatic escalation (the service paged after a breach); null if none. */
  lastAutomaticAt: number | null;
  /** Latest `sla.stand_down` the service emitted for the incident; null if none. */
  lastStandDownAt: number | null;
}

export interface StandDown {
  /** The incident's cycle (its reopen count) that settled: one stand-down per cycle at most. */
  cycle: number;
  settledAs: 'resolved' | 'closed' | 'cancelled';
  /** When the latest automatic escalation happened. */
  escalatedAt: number;
}

/**
 * SPEC §4 "Stand-down": an incident the service paged automatically (an automatic escalation
 * after a breach) that settles (resolved, closed, cancelled) tells the pagers once. Owed when the
 * incident was open before and is settled now, and an automatic escalation happened after the
 * last stand-down (a reopened incident that is paged again is stood down again; one that is not,
 * is not). A manual escalation alone owes nothing: the person who escalated paged, not the service.
 */
export function standDownFor(
  statusBefore: string | undefined,
  statusAfter: IncidentStatus,
  reopenCount: number,
  paging: PagingRecord,
): StandDown | null {
  if (statusBefore !== 'open' || statusAfter === 'open') return null;
  const { lastAutomaticAt, lastStandDownAt } = paging;
  if (lastAutomaticAt === null) return null;
  if (lastStandDownAt !== null && lastStandDownAt >= lastAutomaticAt) return null;
  return { cycle: reopenCount, settledAs: statusAfter, escalatedAt: lastAutomaticAt };
}

/**
 * SPEC §4 "Stand-down": nothing else follows a stand-down for that cycle. True while the incident
 * is settled and a stand-down is owed now (`owed`, from `standDownFor`) or was sent after the
 * latest automatic page: then no manual escalation is forwarded and no breach retracted.
 */
export function stoodDown(
  statusAfter: IncidentStatus,
  owed: StandDown | null,
  paging: PagingRecord,
): boolean {
  if (statusAfter === 'open') return false;
  if (owed !== null) return true;
  return paging.lastStandDownAt !== null && paging.lastStandDownAt >= (paging.lastAutomaticAt ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Retractions (SPEC §4 "Retraction")

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
