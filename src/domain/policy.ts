/**
 * SLA policies are data (SPEC §2): versioned documents listing milestones, their limits per
 * severity, warning thresholds, pause and reopen rules, the tier a breach escalates to, and the
 * calendar every duration is measured on. The JSON form and its zod parser live in
 * src/contracts/policy.ts; this is the parsed form (durations in ms, instants in epoch ms).
 */
import type { MeetingEventType, Severity, Tier } from './events';
import { HOUR, MINUTE } from './time';
import type { CalendarSpec } from './calendar';

/** Milestone ids are policy data; these are the ones of the default policy (SPEC §2). */
export type MilestoneId = string;
export type DefaultMilestoneId =
  'response' | 'dispatch' | 'arrival' | 'diagnosis' | 'solution' | 'spare_parts' | 'follow_up';

/**
 * A warning ("approaching") threshold. `fraction`: when that fraction of the limit has elapsed
 * (0.8 → 4 min into a 5 min target). `lead`: that much working time before the deadline (a lead
 * longer than the limit warns at the start). Either way a warning is never after the deadline.
 */
export type WarningThreshold =
  | { readonly kind: 'fraction'; readonly value: number }
  | { readonly kind: 'lead'; readonly ms: number };

/**
 * What starts a milestone's clock: the report (and each reopen, for milestones that restart), or
 * the resolution: the incident leaving `open` as resolved or closed (`follow_up`, §4.5.7.6 回访
 * "after every fault is handled"). A resolution-started milestone runs while the incident is
 * resolved or closed, is met only then, and starts a new cycle at every resolution after a reopen.
 */
export type ClockStart = 'report' | 'resolution';

export interface MilestoneRule {
  readonly id: MilestoneId;
  /** The lifecycle event that meets this milestone. */
  readonly metBy: MeetingEventType;
  /** Time allowed per severity, in working ms of the policy calendar. Every severity has one. */
  readonly limits: Readonly<Record<Severity, number>>;
  /** The event that starts the clock (before `startAfterMs`). */
  readonly startsOn: ClockStart;
  /**
   * The clock starts this long (working time) after its start event; 0 for most. A milestone
   * whose start comes while the incident is not in its phase (open, for one started by the
   * report) is not applicable (spare_parts: "not solved in 24 h").
   */
  readonly startAfterMs: number;
  readonly warnings: readonly WarningThreshold[];
  /** Whether `incident.paused` stops this milestone's clock. */
  readonly pausable: boolean;
  /** Whether `incident.reopened` starts a new cycle of this milestone at the reopen time. */
  readonly restartsOnReopen: boolean;
  /** The tier a breach of this milestone escalates to; null: a breach does not escalate. */
  readonly escalatesToTier: Tier | null;
}

export interface Policy {
  readonly id: string;
  /** Versions of one policy id increase; a new version never changes an older one. */
  readonly version: number;
  /** The version applies to incidents reported at or after this instant (epoch ms). */
  readonly effectiveFrom: number;
  readonly name: string;
  /** Evaluation order is this order. Ids are unique. */
  readonly milestones: readonly MilestoneRule[];
  readonly calendar: CalendarSpec;
}

export const DEFAULT_POLICY_ID = 'default';

const WARN_80: readonly WarningThreshold[] = [{ kind: 'fraction', value: 0.8 }];

function minutes(i: number, ii: number, iii: number, iv: number): Record<Severity, number> {
  return { I: i * MINUTE, II: ii * MINUTE, III: iii * MINUTE, IV: iv * MINUTE };
}

/**
 * SPEC §2 exactly: the seed table (§4.5.5.4), one 80 % warning, only diagnosis and solution pause,
 * diagnosis and solution restart on reopen, spare parts within 2 h once 24 h passed unresolved
 * (§4.5.9), breaches of response/dispatch/arrival go to tier 2, diagnosis/solution/spare_parts to
 * tier 3; a follow-up (回访, §4.5.7.6) within 72 h of the resolution, escalating nobody; 7×24.
 * policies/default-policy.json is the same policy as a document (a test keeps them equal).
 */
export const DEFAULT_POLICY: Policy = deepFreeze({
  id: DEFAULT_POLICY_ID,
  version: 1,
  effectiveFrom: 0,
  name: 'Default SLA (tender §4.5.5.4, §4.5.9, §4.5.7.6)',
  calendar: { kind: '24x7' },
  milestones: [
    rule('response', 'incident.acknowledged', minutes(5, 5, 10, 15), 2),
    rule('dispatch', 'incident.dispatched', minutes(5, 5, 10, 15), 2),
    rule('arrival', 'incident.arrived', minutes(10, 15, 20, 20), 2),
    {
      ...rule('diagnosis', 'incident.diagnosed', minutes(60, 60, 120, 120), 3),
      pausable: true,
      restartsOnReopen: true,
    },
    {
      ...rule('solution', 'incident.solution_provided', minutes(60, 60, 120, 120), 3),
      pausable: true,
      restartsOnReopen: true,
    },
    {
      ...rule('spare_parts', 'incident.spare_parts_provided', minutes(120, 120, 120, 120), 3),
      startAfterMs: 24 * HOUR,
    },
    {
      ...rule(
        'follow_up',
        'incident.followed_up',
        minutes(72 * 60, 72 * 60, 72 * 60, 72 * 60),
        null,
      ),
      startsOn: 'resolution',
      restartsOnReopen: true,
    },
  ],
});

function rule(
  id: DefaultMilestoneId,
  metBy: MeetingEventType,
  limits: Record<Severity, number>,
  escalatesToTier: Tier | null,
): MilestoneRule {
  return {
    id,
    metBy,
    limits,
    startsOn: 'report',
    startAfterMs: 0,
    warnings: WARN_80,
    pausable: false,
    restartsOnReopen: false,
    escalatesToTier,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * The policy an incident is evaluated under: among `policies`, the highest version of `policyId`
 * (default: DEFAULT_POLICY_ID) whose `effectiveFrom` is at or before `reportedAt`. Because the
 * choice depends only on the report, an incident keeps the version it was reported under, also on
 * replay. Undefined when no version matches.
 */
export function selectPolicy(
  policies: readonly Policy[],
  policyId: string | undefined,
  reportedAt: number,
): Policy | undefined {
  const id = policyId ?? DEFAULT_POLICY_ID;
  let best: Policy | undefined;
  for (const p of policies) {
    if (p.id !== id || p.effectiveFrom > reportedAt) continue;
    if (best === undefined || p.version > best.version) best = p;
  }
  return best;
}

/** The tier a breach of `milestone` escalates to under `policy`; null if none (or unknown milestone). */
export function escalationTierFor(policy: Policy, milestone: MilestoneId): Tier | null {
  return policy.milestones.find((m) => m.id === milestone)?.escalatesToTier ?? null;
}
