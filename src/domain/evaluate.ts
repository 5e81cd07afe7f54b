/**
 * The deadline engine: a pure fold over an incident's sorted events that says, for `now`, where
 * every milestone stands and which timers must exist.
 */
import type { IncidentState } from './incident';
import type { MilestoneId, Policy, WarningThreshold } from './policy';
import type { Severity, Tier } from './events';

export type IncidentStatus = 'open' | 'resolved' | 'closed' | 'cancelled';

export type MilestoneState =
  | 'pending'
  | 'warned'
  | 'met'
  | 'met_late'
  | 'breached'
  | 'paused'
  | 'not_applicable';

export interface IncidentView {
  readonly incidentId: string;
  readonly status: IncidentStatus;
  readonly severity: Severity;
  readonly title: string;
  readonly site: string | null;
  readonly category: string | null;
  readonly customer: string | null;
  readonly reporter: string | null;
  /** Current handler (receives warnings); from the latest `incident.assigned`. */
  readonly assignee: string | null;
  /** 1 until `incident.assigned` (with a tier) or `incident.escalated` says otherwise. */
  readonly tier: Tier;
  readonly policyId: string;
  readonly policyVersion: number;
  readonly reportedAt: number;
  readonly reopenCount: number;
  /** Whether pausable clocks are currently stopped. */
  readonly paused: boolean;
  readonly resolvedAt: number | null;
  readonly closedAt: number | null;
  readonly cancelledAt: number | null;
}

export interface MilestoneView {
  readonly milestone: MilestoneId;
  /** 0 for the first cycle; n after the n-th reopen (for milestones that restart on reopen). */
  readonly cycle: number;
  readonly state: MilestoneState;
  /** When the clock starts (may be in the future: spare_parts). */
  readonly startAt: number;
  /** The deadline; null while paused, or while the clock has not started. */
  readonly dueAt: number | null;
  /** Warning instants, ascending (reached or projected); only reached ones while paused. */
  readonly warnAt: readonly number[];
  readonly metAt: number | null;
  /** The deadline that passed unmet (the breach moment is the deadline); null if not breached. */
  readonly breachedAt: number | null;
  /** `dueAt - now` (wall ms, negative once overdue) while the milestone is open; else null. */
  readonly remainingMs: number | null;
  /** Working time the clock was paused for (this is what the deadline moved by). */
  readonly pausedMs: number;
  readonly escalatesToTier: Tier | null;
}

export type TimerKind = 'warning' | 'breach';

export interface TimerPlan {
  /** Stable across re-planning: `${incidentId}/${milestone}/${cycle}/warn:<index>` or `…/breach`. */
  readonly key: string;
  /** The planned `dueAt`: the same plan gives the same generation, a re-plan changes it. */
  readonly generation: number;
  readonly kind: TimerKind;
  readonly milestone: MilestoneId;
  readonly cycle: number;
  /** When the timer fires (may be in the past: it then fires at once). */
  readonly dueAt: number;
  /** The milestone's deadline. */
  readonly deadline: number;
  /** For warnings: the policy threshold and its index in the milestone's `warnings`. */
  readonly threshold?: WarningThreshold;
  readonly thresholdIndex?: number;
}

export interface Evaluation {
  /** Null while the incident has no `incident.reported` (its events wait). */
  readonly incident: IncidentView | null;
  /** The current cycle of every milestone, in policy order. */
  readonly milestones: readonly MilestoneView[];
  /** Earlier cycles of milestones that restarted on reopen, oldest first (for reporting). */
  readonly history: readonly MilestoneView[];
  /** Timers that must exist now; every other timer of the incident must not fire. */
  readonly timers: readonly TimerPlan[];
}

/**
 * Evaluates an incident at `now` under one policy, or under the version chosen from a list by
 * `selectPolicy` (falling back to the default policy id, then to DEFAULT_POLICY).
 */
export function evaluate(state: IncidentState, policies: Policy | readonly Policy[], now: number): Evaluation {
  void state;
  void policies;
  void now;
  throw new Error('not implemented');
}

/** The policy `evaluate` would use for this incident (null without a report). */
export function policyOf(state: IncidentState, policies: Policy | readonly Policy[]): Policy | null {
  void state;
  void policies;
  throw new Error('not implemented');
}
