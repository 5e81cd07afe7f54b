/**
 * The deadline engine: a pure fold over an incident's sorted events that says, for `now`, where
 * every milestone stands and which timers must exist.
 *
 * Rules (each has a test in test/unit/domain):
 * - Clocks start at the report (or reopen) plus the milestone's `startAfterMs`, on the policy
 *   calendar. Events timed before the report count as happening at the report.
 * - A milestone is met by the first meeting event while the incident is open: `met` if at or
 *   before the deadline, `met_late` otherwise (that is also a breach, at the deadline).
 * - Severity change: open milestones are recomputed from their start with the new limits. A
 *   deadline that had already passed under the old limits stays breached (frozen); a deadline
 *   already past under the new limits is breached at once; met milestones keep their result.
 * - Pause/resume: only pausable milestones stop, and their deadline moves by exactly the working
 *   time paused; `pausedMs` is that (a pause after the deadline moves nothing). A deadline reached
 *   before the pause began stays breached: the milestone shows `paused` with its `breachedAt`.
 * - Overdue freezes (SPEC §2): `remainingMs` of a breached milestone stops at `stoppedAt` (it
 *   settled, or its clock is paused) and does not count time paused after the deadline
 *   (`overduePausedMs`). What the projector stores is read at any later instant by
 *   `milestoneAt` (milestone-state.ts), which agrees with evaluating then (property-tested).
 * - Resolved/closed: open milestones settle; unmet ones whose deadline had passed stay breached,
 *   the others are not applicable. Events after settling do not change settled milestones.
 * - Reopen (from resolved or closed only): milestones that restart on reopen get a new cycle from
 *   the reopen time; the earlier cycle goes to `history`. Pauses end at resolution.
 * - Cancelled: settles everything and erases breaches: every milestone not met on time, in every
 *   cycle, is not applicable. Cancelled is final (a later reopen is ignored).
 * - A milestone starting while the incident is not open (spare_parts 24 h after a report resolved
 *   earlier) is not applicable; if the incident was reopened by then, it starts.
 * - Breach boundary: met at exactly the deadline is on time; seen at `now === dueAt` unmet, it is
 *   breached (the breach timer fires at the deadline).
 * - Every duration of a policy is working time on its calendar, the spare_parts start offset too
 *   (on a business calendar "24 h unresolved" is 24 working hours). `remainingMs` is wall time to
 *   the deadline (a countdown); `pausedMs` is working time (what the deadline moved by).
 * - Pause and resume are a switch, not a counter: a second pause and a stray resume are ignored.
 * - The tier comes from events only: `incident.assigned` with a tier sets it (a person may hand
 *   back), `incident.escalated` never lowers it. Automatic escalation is `escalationFor`'s job.
 * - Events at the same millisecond: report, then facts, then resolved, closed/cancelled, reopen.
 *
 * Invariants (property-tested): warnings are never after their deadline; at a fixed severity a
 * pause never moves a deadline earlier (a later severity raise applies from the start, so with
 * one a pause can decide whether the old deadline had passed); the result depends on the set of
 * events, not their arrival order; a duplicate changes nothing; a milestone met on time has no
 * breach and no timers.
 */
import { DEFAULT_SERVICE_KIND } from './costs';
import type { ServiceKind, Severity, Tier } from './events';
import { Fold, type IncidentStatus, type Run } from './fold';
import { reportOf, type IncidentState } from './incident';
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_ID,
  selectPolicy,
  type MilestoneId,
  type Policy,
  type WarningThreshold,
} from './policy';

export type { IncidentStatus } from './fold';

export type MilestoneState =
  'pending' | 'warned' | 'met' | 'met_late' | 'breached' | 'paused' | 'not_applicable';

export interface IncidentView {
  readonly incidentId: string;
  readonly status: IncidentStatus;
  readonly severity: Severity;
  readonly title: string;
  readonly site: string | null;
  readonly category: string | null;
  readonly customer: string | null;
  readonly reporter: string | null;
  /** From the report (seed §4.5.3.6: installation work is counted apart). */
  readonly serviceKind: ServiceKind;
  /** Current handler (receives warnings); from the latest `incident.assigned`. */
  readonly assignee: string | null;
  /** 1 until `incident.assigned` (with a tier) or `incident.escalated` says otherwise. */
  readonly tier: Tier;
  readonly policyId: string;
  readonly policyVersion: number;
  readonly reportedAt: number;
  readonly reopenCount: number;
  /** When each reopen that took effect happened (from resolved or closed only), ascending. */
  readonly reopenedAt: readonly number[];
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
  /**
   * Wall ms to the deadline, negative once overdue, while unmet with a deadline (pending, warned,
   * breached, paused after the deadline): `dueAt + overduePausedMs - min(now, stoppedAt)`, so an
   * overdue stops growing when the milestone settles or its clock is paused (SPEC §2 "Overdue
   * freezes"). Null when met, not applicable, or paused before its deadline.
   */
  readonly remainingMs: number | null;
  /**
   * Working time the clock was paused for before reaching its deadline: exactly what the deadline
   * moved by (a pause after the deadline moves nothing, SPEC §2).
   */
  readonly pausedMs: number;
  readonly escalatesToTier: Tier | null;
  /**
   * When the clock stopped ageing: met (metAt), settled (the settling event, or for an earlier
   * cycle the resolution before its reopen), paused (the pause start). Null while it runs and for
   * a clock that never started. See milestone-state.ts.
   */
  readonly stoppedAt: number | null;
  /** Wall ms the clock was paused after its deadline had passed: that time is not overdue. */
  readonly overduePausedMs: number;
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
export function evaluate(
  state: IncidentState,
  policies: Policy | readonly Policy[],
  now: number,
): Evaluation {
  const report = reportOf(state);
  if (report === undefined) return { incident: null, milestones: [], history: [], timers: [] };
  const policy = choosePolicy(policies, report.data.policyId, report.at);
  const fold = new Fold(policy, report.at, report.data.severity);
  for (const e of state.events) if (e !== report) fold.apply(e);
  fold.startClocks(now);

  const milestones: MilestoneView[] = [];
  const history: MilestoneView[] = [];
  const timers: TimerPlan[] = [];
  for (const run of fold.history) history.push(viewOf(fold, run, now, null, state.incidentId));
  for (const run of fold.runs) milestones.push(viewOf(fold, run, now, timers, state.incidentId));

  const d = report.data;
  return {
    incident: {
      incidentId: state.incidentId,
      status: fold.status,
      severity: fold.severity,
      title: d.title,
      site: d.site ?? null,
      category: d.category ?? null,
      customer: d.customer ?? null,
      reporter: d.reporter ?? null,
      serviceKind: d.serviceKind ?? DEFAULT_SERVICE_KIND,
      assignee: fold.assignee,
      tier: fold.tier,
      policyId: policy.id,
      policyVersion: policy.version,
      reportedAt: report.at,
      reopenCount: fold.reopenedAt.length,
      reopenedAt: fold.reopenedAt,
      paused: fold.pauses.since !== null,
      resolvedAt: fold.resolvedAt,
      closedAt: fold.closedAt,
      cancelledAt: fold.cancelledAt,
    },
    milestones,
    history,
    timers,
  };
}

/** The policy `evaluate` would use for this incident (null without a report). */
export function policyOf(
  state: IncidentState,
  policies: Policy | readonly Policy[],
): Policy | null {
  const report = reportOf(state);
  return report === undefined ? null : choosePolicy(policies, report.data.policyId, report.at);
}

function isPolicyList(p: Policy | readonly Policy[]): p is readonly Policy[] {
  return Array.isArray(p);
}

function choosePolicy(
  policies: Policy | readonly Policy[],
  policyId: string | undefined,
  reportedAt: number,
): Policy {
  if (!isPolicyList(policies)) return policies;
  return (
    selectPolicy(policies, policyId, reportedAt) ??
    selectPolicy(policies, DEFAULT_POLICY_ID, reportedAt) ??
    DEFAULT_POLICY
  );
}

/**
 * The view of one run at `now`; pushes its timers when `timers` is given (current cycle). One
 * function per situation of the run, each ending in `finish` with a literal of the same shape:
 * no closures or spreads per call (this is the hot path of bench/deadlines).
 */
function viewOf(
  fold: Fold,
  run: Run,
  now: number,
  timers: TimerPlan[] | null,
  incidentId: string,
): MilestoneView {
  if (neverApplied(fold, run)) return withoutDeadline(fold, run, 'not_applicable', run.startAt);
  if (run.metAt !== null) return metView(fold, run, run.metAt);
  if (run.settledAt !== null) return settledView(fold, run, run.settledAt);
  return openView(fold, run, now, timers, incidentId);
}

/**
 * The run's clock never started and never will: it applied to nothing, even if its meeting event
 * came early (spare parts within 24 h of an incident resolved within 24 h). Counted nowhere
 * (SPEC §2), and shown without a `metAt`.
 */
function neverApplied(fold: Fold, run: Run): boolean {
  return run.neverStarted || (!run.started && fold.status !== 'open');
}

/** What a situation decides of a view; `finish` adds what every view computes the same way. */
interface Reading {
  readonly state: MilestoneState;
  readonly dueAt: number | null;
  readonly warnAt: number[];
  readonly breachedAt: number | null;
  readonly remainingMs: number | null;
  /** Where the clock stops for this view (met, settled) or `now` while open. */
  readonly end: number;
  readonly stoppedAt: number | null;
  readonly overduePausedMs: number;
}

function finish(fold: Fold, run: Run, r: Reading): MilestoneView {
  if (r.warnAt.length > 1) r.warnAt.sort(ascending);
  return {
    milestone: run.rule.id,
    cycle: run.cycle,
    state: r.state,
    startAt: run.startAt,
    dueAt: r.dueAt,
    warnAt: r.warnAt,
    metAt: neverApplied(fold, run) ? null : run.metAt,
    breachedAt: r.breachedAt,
    remainingMs: r.remainingMs,
    // Pauses after the deadline moved nothing (SPEC §2): count only those before it.
    pausedMs: fold.pausedWork(run, r.dueAt !== null && r.dueAt < r.end ? r.dueAt : r.end),
    escalatesToTier: run.rule.escalatesToTier,
    stoppedAt: r.stoppedAt,
    overduePausedMs: r.overduePausedMs,
  };
}

/** A clock that never started, or has not started yet: no deadline, no warnings, nothing ages. */
function withoutDeadline(
  fold: Fold,
  run: Run,
  state: 'not_applicable' | 'pending',
  end: number,
): MilestoneView {
  return finish(fold, run, {
    state,
    dueAt: null,
    warnAt: [],
    breachedAt: null,
    remainingMs: null,
    end,
    stoppedAt: null,
    overduePausedMs: 0,
  });
}

/** Met at `metAt`: on time, late (a breach at the deadline), or not applicable once cancelled. */
function metView(fold: Fold, run: Run, metAt: number): MilestoneView {
  const dueAt = run.frozenDue ?? fold.reach(run, run.limit, metAt);
  const late = dueAt !== null && metAt > dueAt;
  const breached = late && fold.status !== 'cancelled';
  return finish(fold, run, {
    state: !late ? 'met' : breached ? 'met_late' : 'not_applicable',
    dueAt,
    warnAt: fold.warnings(run, metAt),
    breachedAt: breached ? dueAt : null,
    remainingMs: null,
    end: metAt,
    stoppedAt: metAt,
    overduePausedMs: breached ? fold.pausedWallAfter(run, dueAt, metAt) : 0,
  });
}

/**
 * Unmet when the incident left `open` at `settledAt`: breached if its deadline had passed (the
 * overdue stops at the settling instant, SPEC §2 "Overdue freezes"), otherwise not applicable.
 */
function settledView(fold: Fold, run: Run, settledAt: number): MilestoneView {
  const dueAt = run.frozenDue ?? fold.reach(run, run.limit, settledAt);
  const breached = fold.status !== 'cancelled' && dueAt !== null && dueAt < settledAt;
  const overduePausedMs = breached ? fold.pausedWallAfter(run, dueAt, settledAt) : 0;
  return finish(fold, run, {
    state: breached ? 'breached' : 'not_applicable',
    dueAt,
    warnAt: fold.warnings(run, settledAt),
    breachedAt: breached ? dueAt : null,
    remainingMs: breached ? dueAt + overduePausedMs - settledAt : null,
    end: settledAt,
    stoppedAt: settledAt,
    overduePausedMs,
  });
}

/**
 * Open and unmet (the incident is open, or this run would have been settled): not started yet,
 * paused, or running; the only situation that has timers.
 */
function openView(
  fold: Fold,
  run: Run,
  now: number,
  timers: TimerPlan[] | null,
  incidentId: string,
): MilestoneView {
  const end = now > run.startAt ? now : run.startAt;
  const due = run.frozenDue ?? fold.reach(run, run.limit, Number.POSITIVE_INFINITY);
  const warnAt = run.frozenDue === null ? fold.warnings(run, Number.POSITIVE_INFINITY) : [];
  if (timers !== null && due !== null) planTimers(run, due, warnAt, now, timers, incidentId);
  const pausedSince = fold.pausedSince(run);
  if (!run.started && run.startAt > now) {
    // Not started yet: its deadline is a projection (timers exist), not yet a commitment.
    return withoutDeadline(fold, run, 'pending', end);
  }
  if (due === null) {
    // Paused before reaching the deadline: only thresholds reached before the pause are known.
    return finish(fold, run, {
      state: 'paused',
      dueAt: null,
      warnAt,
      breachedAt: null,
      remainingMs: null,
      end,
      stoppedAt: pausedSince !== null && pausedSince > run.startAt ? pausedSince : run.startAt,
      overduePausedMs: 0,
    });
  }
  if (pausedSince !== null && due <= pausedSince) {
    // Paused after the deadline: the breach stands, the overdue stops ageing while paused.
    const overduePausedMs = fold.pausedWallAfter(run, due, pausedSince);
    return finish(fold, run, {
      state: 'paused',
      dueAt: due,
      warnAt,
      breachedAt: due,
      remainingMs: due + overduePausedMs - pausedSince,
      end,
      stoppedAt: pausedSince,
      overduePausedMs,
    });
  }
  const overduePausedMs = fold.pausedWallAfter(run, due, now);
  const breached = due <= now;
  return finish(fold, run, {
    state: breached ? 'breached' : anyReached(warnAt, now) ? 'warned' : 'pending',
    dueAt: due,
    warnAt,
    breachedAt: breached ? due : null,
    remainingMs: due + overduePausedMs - now,
    end,
    stoppedAt: null,
    overduePausedMs,
  });
}

function anyReached(instants: readonly number[], now: number): boolean {
  for (const t of instants) if (t <= now) return true;
  return false;
}

/**
 * Timers of an open, unmet, running (or not yet started) milestone. The breach timer always
 * exists, even when overdue (it fires at once). A warning exists only while the deadline is
 * still ahead and its own time is before the deadline (SPEC §4 "Discovered late").
 */
function planTimers(
  run: Run,
  deadline: number,
  warnAt: readonly number[],
  now: number,
  timers: TimerPlan[],
  incidentId: string,
): void {
  const prefix = `${incidentId}/${run.rule.id}/${run.cycle}/`;
  const ws = run.rule.warnings;
  if (run.frozenDue === null && now < deadline) {
    // warnAt has one entry per threshold here: the clock is running (deadline known).
    for (let i = 0; i < ws.length; i++) {
      const at = warnAt[i]!;
      if (at >= deadline) continue;
      timers.push({
        key: `${prefix}warn:${i}`,
        generation: at,
        kind: 'warning',
        milestone: run.rule.id,
        cycle: run.cycle,
        dueAt: at,
        deadline,
        threshold: ws[i]!,
        thresholdIndex: i,
      });
    }
  }
  timers.push({
    key: `${prefix}breach`,
    generation: deadline,
    kind: 'breach',
    milestone: run.rule.id,
    cycle: run.cycle,
    dueAt: deadline,
    deadline,
  });
}

function ascending(a: number, b: number): number {
  return a - b;
}
