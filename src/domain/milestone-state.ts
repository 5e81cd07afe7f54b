/**
 * The state of a milestone at an instant, from what the projector stored about it: the one
 * definition the read API, the live stream, the list filters, the monthly report and the views
 * share. The projector stores each milestone as of its incident's latest event (evaluate.ts), so
 * that a replay gives identical rows; what changes with the mere passage of time is derived here.
 *
 * Its SQL twin is in migrations/0008_milestone_rules.sql (`sla_milestone_state_at`,
 * `sla_milestone_remaining_ms`, `sla_milestone_overdue_ms`, `sla_milestone_is_breached`,
 * `sla_milestone_is_open`, `sla_milestone_clock_started`); test/integration/milestone-rules.test.ts
 * runs every case of MILESTONE_AT_CASES (test/unit/domain/milestone-state.test.ts) through both
 * and compares them row by row, and checks the views against the same table.
 *
 * Rules (SPEC §2 "Overdue freezes", README "SLA rules"):
 * - met, met_late and not_applicable are final; so is a breach (it stands after settling, while
 *   paused, after a reopen: a reopen starts new cycles and never revives a settled one);
 * - pending / warned age: breached once the deadline is reached (`dueAt <= at`, the instant the
 *   scheduler fires), warned once a warning instant is reached, else pending;
 * - remaining time is `dueAt - at` (wall ms) while the clock runs; it stops at `stoppedAt` (the
 *   milestone settled, or its clock is paused) and does not count the time the clock was paused
 *   after the deadline (`overduePausedMs`): an overdue never grows while nothing can be done;
 * - a clock that never started (spare_parts of an incident solved within 24 h) or has not started
 *   yet is neither open nor counted in reports.
 */
import type { MilestoneState } from './evaluate';

/** A stored milestone row (table `milestones`), instants in epoch ms. */
export interface StoredMilestone {
  /** The state as of the incident's latest event. */
  readonly state: MilestoneState;
  /** When its clock starts (report or reopen plus the policy's delay). */
  readonly startAt: number | null;
  /** The deadline; null while paused before reaching it, or never started. */
  readonly dueAt: number | null;
  readonly warnAt: readonly number[];
  readonly metAt: number | null;
  /** The deadline that passed unmet; null if not breached (as of the latest event). */
  readonly breachedAt: number | null;
  /**
   * When the clock stopped ageing: met, settled (resolved, closed, cancelled, or an earlier cycle
   * closed by a reopen), or paused (the pause start). Null while it runs, and for a clock that
   * never started.
   */
  readonly stoppedAt: number | null;
  /** Wall ms the clock was paused after its deadline had passed (not overdue time). */
  readonly overduePausedMs: number;
}

/** A milestone as it stands at an instant. */
export interface MilestoneAt {
  readonly state: MilestoneState;
  /** The breach moment (the deadline) if it is breached, met late, or paused after a breach. */
  readonly breachedAt: number | null;
  /**
   * Wall ms to the deadline (negative once overdue) while the milestone is unmet and has a
   * deadline: ageing while its clock runs, frozen once it stopped; null when met, not
   * applicable, or paused before its deadline.
   */
  readonly remainingMs: number | null;
  /** How far past the deadline it is (frozen once stopped) when breached; else null. */
  readonly overdueMs: number | null;
  /** Unmet, not settled, its clock started (pending, warned, breached and running, paused). */
  readonly isOpen: boolean;
  /** Its clock has started (counted in reports); false for one that never started or not yet. */
  readonly clockStarted: boolean;
}

/** The state of `m` at `at` (epoch ms). Pure; see the rules above. */
export function milestoneAt(m: StoredMilestone, at: number): MilestoneAt {
  let state = m.state;
  if (state === 'pending' || state === 'warned') {
    if (m.dueAt !== null && m.dueAt <= at) state = 'breached';
    else if (state === 'warned' || m.warnAt.some((w) => w <= at)) state = 'warned';
  }
  const breached =
    state === 'breached' || state === 'met_late' || (state === 'paused' && m.breachedAt !== null);
  const until = m.stoppedAt !== null && m.stoppedAt < at ? m.stoppedAt : at;
  const unmet =
    state === 'pending' || state === 'warned' || state === 'breached' || state === 'paused';
  const clockStarted =
    (m.startAt === null || m.startAt <= at) && (state !== 'not_applicable' || m.stoppedAt !== null);
  return {
    state,
    breachedAt: breached ? (m.breachedAt ?? m.dueAt) : null,
    remainingMs: unmet && m.dueAt !== null ? m.dueAt + m.overduePausedMs - until : null,
    overdueMs: breached && m.dueAt !== null ? until - m.dueAt - m.overduePausedMs : null,
    isOpen:
      clockStarted &&
      (state === 'pending' ||
        state === 'warned' ||
        state === 'paused' ||
        (state === 'breached' && m.stoppedAt === null)),
    clockStarted,
  };
}

/**
 * Whether `GET /v1/sla/at-risk` lists `m` at `at` (epoch ms): open with its clock running (a
 * paused clock is not at risk: it stands), a deadline within `horizonMs` of `at`, and pending or
 * warned at `at`; breached (overdue and still running) ones only with `includeBreached`.
 * SQL twin: `sla_milestone_at_risk` (migrations/0016_at_risk_rule.sql), pinned by
 * test/integration/milestone-rules.test.ts through the read API's own query.
 */
export function onAtRiskList(
  m: StoredMilestone,
  at: number,
  horizonMs: number,
  includeBreached: boolean,
): boolean {
  if (m.dueAt === null || m.dueAt > at + horizonMs) return false;
  const now = milestoneAt(m, at);
  if (!now.isOpen) return false;
  return (
    now.state === 'pending' ||
    now.state === 'warned' ||
    (includeBreached && now.state === 'breached')
  );
}

/** Whole seconds of a duration in ms, rounded down (as SQL's `floor`): -0.5 s is -1. */
export function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000);
}
