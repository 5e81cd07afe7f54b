/**
 * The fold behind `evaluate` (evaluate.ts states its rules): applies an incident's sorted events
 * one by one to the incident's status and to one `Run` per milestone cycle, and answers when a
 * run's clock reaches an amount of working time. Mutable scratch that never escapes `evaluate`.
 */
import { calendarFor, type Calendar } from './calendar';
import type { IncidentEvent, Severity, Tier } from './events';
import { PauseLog } from './pause-log';
import type { MilestoneRule, Policy, WarningThreshold } from './policy';

export type IncidentStatus = 'open' | 'resolved' | 'closed' | 'cancelled';

/** One cycle of one milestone, as the fold goes. */
export interface Run {
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

export class Fold {
  readonly cal: Calendar;
  readonly runs: Run[] = [];
  readonly history: Run[] = [];
  status: IncidentStatus = 'open';
  severity: Severity;
  tier: Tier = 1;
  assignee: string | null = null;
  /** Reopens that took effect; their count is the reopen count. */
  readonly reopenedAt: number[] = [];
  readonly pauses = new PauseLog();
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
    if (this.status === 'open') this.meet(e.type, t);
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
        if (this.status === 'open') this.pauses.pause(t);
        break;
      case 'incident.resumed':
        this.pauses.resume(t);
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

  /** While open, the first meeting event meets every run not yet met, settled or ruled out. */
  private meet(type: IncidentEvent['type'], t: number): void {
    for (const run of this.runs) {
      if (
        run.rule.metBy === type &&
        run.metAt === null &&
        run.settledAt === null &&
        !run.neverStarted
      ) {
        run.metAt = t;
      }
    }
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
    this.pauses.resume(t);
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

  /** Start of the pause in force on `run`'s clock, or null (also for a run that never pauses). */
  pausedSince(run: Run): number | null {
    return run.rule.pausable ? this.pauses.since : null;
  }

  /**
   * The earliest instant at which `target` working ms of `run`'s clock have elapsed, skipping
   * pauses (pausable milestones only) that begin before `until`. Null if the clock is paused
   * before reaching it (the instant is not known yet).
   */
  reach(run: Run, target: number, until: number): number | null {
    if (!run.rule.pausable) return this.cal.add(run.startAt, target);
    return this.pauses.reach(this.cal, run.startAt, target, until);
  }

  /** Working time `run`'s clock stood still between its start and `end`. */
  pausedWork(run: Run, end: number): number {
    return run.rule.pausable ? this.pauses.workBetween(this.cal, run.startAt, end) : 0;
  }

  /** Wall ms `run`'s clock was paused in [due, end): after its deadline, so not overdue. */
  pausedWallAfter(run: Run, due: number, end: number): number {
    return run.rule.pausable ? this.pauses.wallBetween(due, end) : 0;
  }

  /** The instants `run`'s warning thresholds are reached, skipping pauses from `until` on. */
  warnings(run: Run, until: number): number[] {
    const out: number[] = [];
    for (const w of run.rule.warnings) {
      const at = this.reach(run, thresholdWork(w, run.limit), until);
      if (at !== null) out.push(at);
    }
    return out;
  }
}

/** Working ms into the limit at which a threshold warns; within [0, limit]. */
function thresholdWork(w: WarningThreshold, limit: number): number {
  const at = w.kind === 'fraction' ? Math.floor(w.value * limit) : limit - w.ms;
  return at < 0 ? 0 : at > limit ? limit : at;
}
