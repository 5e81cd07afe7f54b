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
import { calendarFor, type Calendar } from './calendar';
import type { IncidentEvent, ServiceKind, Severity, Tier } from './events';
import { reportOf, type IncidentState } from './incident';
import {
  DEFAULT_POLICY,
  DEFAULT_POLICY_ID,
  selectPolicy,
  type MilestoneId,
  type MilestoneRule,
  type Policy,
  type WarningThreshold,
} from './policy';

export type IncidentStatus = 'open' | 'resolved' | 'closed' | 'cancelled';

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
  for (const run of fold.history) history.push(fold.view(run, now, null, state.incidentId));
  for (const run of fold.runs) milestones.push(fold.view(run, now, timers, state.incidentId));

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
      paused: fold.pausedSince !== null,
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

/** One cycle of one milestone, as the fold goes. Mutable scratch, never escapes `evaluate`. */
interface Run {
  readonly rule: MilestoneRule;
  readonly cycle: number;
  readonly startAt: number;
  /** The clock started: `startAt` passed while the incident was open. */
  started: boolean;
  /** `startAt` passed while the incident was not open: the milestone never applied. */
  neverStarted: boolean;
  /** Working ms allowed, under the severity in force (frozen once met or breached). */
  limit: number;
  metAt: number | null;
  /** Set when a severity change found the deadline already passed: the breach stands. */
  frozenDue: number | null;
  /** When the incident left `open` while this run was started and unmet. */
  settledAt: number | null;
}

class Fold {
  readonly cal: Calendar;
  readonly runs: Run[] = [];
  readonly history: Run[] = [];
  status: IncidentStatus = 'open';
  severity: Severity;
  tier: Tier = 1;
  assignee: string | null = null;
  /** Reopens that took effect; their count is the reopen count. */
  readonly reopenedAt: number[] = [];
  /** Closed pause intervals as [from0, to0, from1, to1, …], ascending. */
  readonly pauses: number[] = [];
  pausedSince: number | null = null;
  resolvedAt: number | null = null;
  closedAt: number | null = null;
  cancelledAt: number | null = null;

  constructor(
    readonly policy: Policy,
    readonly reportedAt: number,
    severity: Severity,
  ) {
    this.cal = calendarFor(policy.calendar);
    this.severity = severity;
    for (const rule of policy.milestones) this.runs.push(this.newRun(rule, 0, reportedAt));
  }

  private newRun(rule: MilestoneRule, cycle: number, from: number): Run {
    return {
      rule,
      cycle,
      startAt: this.cal.add(from, rule.startAfterMs),
      started: false,
      neverStarted: false,
      limit: rule.limits[this.severity],
      metAt: null,
      frozenDue: null,
      settledAt: null,
    };
  }

  /** Starts (or rules out) clocks whose start has come; the status is the one since the last event. */
  startClocks(t: number): void {
    for (const run of this.runs) {
      if (run.started || run.neverStarted || run.startAt > t) continue;
      if (this.status === 'open') run.started = true;
      else run.neverStarted = true;
    }
  }

  apply(e: IncidentEvent): void {
    // Facts stamped before the report (clock skew, sloppy imports) count as at the report.
    const t = e.at > this.reportedAt ? e.at : this.reportedAt;
    this.startClocks(t);
    if (this.status === 'open') {
      for (const run of this.runs) {
        if (
          run.rule.metBy === e.type &&
          run.metAt === null &&
          run.settledAt === null &&
          !run.neverStarted
        ) {
          run.metAt = t;
        }
      }
    }
    switch (e.type) {
      case 'incident.assigned':
        this.assignee = e.data.assignee;
        if (e.data.tier !== undefined) this.tier = e.data.tier;
        break;
      case 'incident.escalated':
        if (e.data.toTier > this.tier) this.tier = e.data.toTier;
        break;
      case 'incident.severity_changed':
        this.changeSeverity(e.data.severity, t);
        break;
      case 'incident.paused':
        if (this.status === 'open' && this.pausedSince === null) this.pausedSince = t;
        break;
      case 'incident.resumed':
        this.endPause(t);
        break;
      case 'incident.resolved':
        if (this.status === 'open') {
          this.settle(t);
          this.status = 'resolved';
          this.resolvedAt = t;
        }
        break;
      case 'incident.closed':
        if (this.status === 'open' || this.status === 'resolved') {
          this.settle(t);
          this.status = 'closed';
          this.closedAt = t;
        }
        break;
      case 'incident.cancelled':
        if (this.status !== 'cancelled') {
          this.settle(t);
          this.status = 'cancelled';
          this.cancelledAt = t;
        }
        break;
      case 'incident.reopened':
        if (this.status === 'resolved' || this.status === 'closed') this.reopen(t);
        break;
      default:
        // reported (a second report is ignored) and the meeting events handled above.
        break;
    }
  }

  private endPause(t: number): void {
    if (this.pausedSince === null) return;
    this.pauses.push(this.pausedSince, t);
    this.pausedSince = null;
  }

  private changeSeverity(severity: Severity, t: number): void {
    for (const run of this.runs) {
      if (
        run.metAt !== null ||
        run.frozenDue !== null ||
        run.settledAt !== null ||
        run.neverStarted
      )
        continue;
      if (run.started) {
        // A deadline that passed under the old limits was a breach when it happened: it stands.
        const due = this.reach(run, run.limit, t);
        if (due !== null && due < t) {
          run.frozenDue = due;
          continue;
        }
      }
      run.limit = run.rule.limits[severity];
    }
    this.severity = severity;
  }

  /** The incident leaves `open` at t: started, unmet clocks stop here. Pauses end too. */
  private settle(t: number): void {
    this.endPause(t);
    if (this.status !== 'open') return;
    for (const run of this.runs) {
      if (run.started && run.metAt === null && run.settledAt === null) run.settledAt = t;
    }
  }

  private reopen(t: number): void {
    this.status = 'open';
    this.reopenedAt.push(t);
    this.resolvedAt = null;
    this.closedAt = null;
    for (let i = 0; i < this.runs.length; i++) {
      const run = this.runs[i]!;
      if (!run.rule.restartsOnReopen) continue;
      // A cycle that never got its clock started (and was not met) never applied.
      if (!run.started && run.metAt === null) run.neverStarted = true;
      this.history.push(run);
      this.runs[i] = this.newRun(run.rule, run.cycle + 1, t);
    }
  }

  /**
   * The earliest instant at which `target` working ms of `run`'s clock have elapsed, skipping
   * pauses (pausable milestones only) that begin before `until`. Null if the clock is paused
   * before reaching it (the instant is not known yet).
   */
  reach(run: Run, target: number, until: number): number | null {
    const cal = this.cal;
    if (!run.rule.pausable) return cal.add(run.startAt, target);
    let cursor = run.startAt;
    let remaining = target;
    const p = this.pauses;
    for (let i = 0; i < p.length; i += 2) {
      const from = p[i]!;
      const to = p[i + 1]!;
      if (from >= until) break;
      if (to <= cursor) continue;
      if (from > cursor) {
        const work = cal.between(cursor, from);
        if (work >= remaining) return cal.add(cursor, remaining);
        remaining -= work;
      }
      cursor = to;
    }
    const since = this.pausedSince;
    if (since !== null && since < until) {
      if (since > cursor) {
        const work = cal.between(cursor, since);
        if (work >= remaining) return cal.add(cursor, remaining);
      }
      return null;
    }
    return cal.add(cursor, remaining);
  }

  /** Working time `run`'s clock stood still between its start and `end`. */
  private pausedWork(run: Run, end: number): number {
    if (!run.rule.pausable) return 0;
    let sum = 0;
    const p = this.pauses;
    for (let i = 0; i < p.length; i += 2) {
      sum += this.cal.between(Math.max(p[i]!, run.startAt), Math.min(p[i + 1]!, end));
    }
    if (this.pausedSince !== null)
      sum += this.cal.between(Math.max(this.pausedSince, run.startAt), end);
    return sum;
  }

  private warnings(run: Run, until: number): number[] {
    const ws = run.rule.warnings;
    const out: number[] = [];
    for (const w of ws) {
      const at = this.reach(run, thresholdWork(w, run.limit), until);
      if (at !== null) out.push(at);
    }
    return out;
  }

  /**
   * The view of one run at `now`; pushes its timers when `timers` is given (current cycle).
   * Written as branches that fill locals and one object literal at the end: no closures or
   * spreads per call, so every view has the same shape (this is the hot path of bench/deadlines).
   */
  view(run: Run, now: number, timers: TimerPlan[] | null, incidentId: string): MilestoneView {
    const cancelled = this.status === 'cancelled';
    let state: MilestoneState;
    let dueAt: number | null;
    let breachedAt: number | null = null;
    let remainingMs: number | null = null;
    let warnAt: number[];
    /** Where the clock stops for this view (met, settled) or `now` while open. */
    let end: number;
    let stoppedAt: number | null = null;
    let overduePausedMs = 0;
    let metAt = run.metAt;

    if (run.neverStarted || (!run.started && this.status !== 'open')) {
      // Never applied, even if its meeting event came early (spare parts within 24 h of an
      // incident resolved within 24 h): counted nowhere (SPEC §2).
      end = run.startAt;
      metAt = null;
      state = 'not_applicable';
      dueAt = null;
      warnAt = [];
    } else if (run.metAt !== null) {
      end = run.metAt;
      stoppedAt = end;
      dueAt = run.frozenDue ?? this.reach(run, run.limit, end);
      if (dueAt === null || end <= dueAt) state = 'met';
      else if (cancelled) state = 'not_applicable';
      else {
        state = 'met_late';
        breachedAt = dueAt;
        overduePausedMs = this.pausedWallAfter(run, dueAt, end);
      }
      warnAt = this.warnings(run, end);
    } else if (run.settledAt !== null) {
      end = run.settledAt;
      stoppedAt = end;
      dueAt = run.frozenDue ?? this.reach(run, run.limit, end);
      if (!cancelled && dueAt !== null && dueAt < end) {
        // SPEC §2 "Overdue freezes": the overdue stops at the settling instant.
        state = 'breached';
        breachedAt = dueAt;
        overduePausedMs = this.pausedWallAfter(run, dueAt, end);
        remainingMs = dueAt + overduePausedMs - end;
      } else state = 'not_applicable';
      warnAt = this.warnings(run, end);
    } else {
      // Open and unmet (the incident is open, or this run would have been settled).
      end = now > run.startAt ? now : run.startAt;
      const due = run.frozenDue ?? this.reach(run, run.limit, Number.POSITIVE_INFINITY);
      warnAt = run.frozenDue === null ? this.warnings(run, Number.POSITIVE_INFINITY) : [];
      if (timers !== null && due !== null) this.plan(run, due, warnAt, now, timers, incidentId);
      const pausedSince = run.rule.pausable ? this.pausedSince : null;
      if (!run.started && run.startAt > now) {
        // Not started yet: its deadline is a projection (timers exist), not yet a commitment.
        state = 'pending';
        dueAt = null;
        warnAt = [];
      } else if (due === null) {
        // Paused before reaching the deadline: only thresholds reached before the pause are known.
        state = 'paused';
        dueAt = null;
        stoppedAt = pausedSince !== null && pausedSince > run.startAt ? pausedSince : run.startAt;
      } else if (pausedSince !== null && due <= pausedSince) {
        // Paused after the deadline: the breach stands, the overdue stops ageing while paused.
        state = 'paused';
        dueAt = due;
        breachedAt = due;
        stoppedAt = pausedSince;
        overduePausedMs = this.pausedWallAfter(run, due, pausedSince);
        remainingMs = due + overduePausedMs - pausedSince;
      } else {
        dueAt = due;
        overduePausedMs = this.pausedWallAfter(run, due, now);
        remainingMs = due + overduePausedMs - now;
        state = 'pending';
        if (due <= now) {
          state = 'breached';
          breachedAt = due;
        } else for (const w of warnAt) if (w <= now) state = 'warned';
      }
    }
    if (warnAt.length > 1) warnAt.sort(ascending);
    return {
      milestone: run.rule.id,
      cycle: run.cycle,
      state,
      startAt: run.startAt,
      dueAt,
      warnAt,
      metAt,
      breachedAt,
      remainingMs,
      // Pauses after the deadline moved nothing (SPEC §2): count only those before it.
      pausedMs: this.pausedWork(run, dueAt !== null && dueAt < end ? dueAt : end),
      escalatesToTier: run.rule.escalatesToTier,
      stoppedAt,
      overduePausedMs,
    };
  }

  /** Wall ms `run`'s clock was paused in [due, end): after its deadline, so not overdue. */
  private pausedWallAfter(run: Run, due: number, end: number): number {
    if (!run.rule.pausable) return 0;
    let sum = 0;
    const p = this.pauses;
    for (let i = 0; i < p.length; i += 2) {
      const from = p[i]! > due ? p[i]! : due;
      const to = p[i + 1]! < end ? p[i + 1]! : end;
      if (to > from) sum += to - from;
    }
    const since = this.pausedSince;
    if (since !== null) {
      const from = since > due ? since : due;
      if (end > from) sum += end - from;
    }
    return sum;
  }

  /**
   * Timers of an open, unmet, running (or not yet started) milestone. The breach timer always
   * exists, even when overdue (it fires at once). A warning exists only while the deadline is
   * still ahead and its own time is before the deadline (SPEC §4 "Discovered late").
   */
  private plan(
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
}

/** Working ms into the limit at which a threshold warns; within [0, limit]. */
function thresholdWork(w: WarningThreshold, limit: number): number {
  const at = w.kind === 'fraction' ? Math.floor(w.value * limit) : limit - w.ms;
  return at < 0 ? 0 : at > limit ? limit : at;
}

function ascending(a: number, b: number): number {
  return a - b;
}
