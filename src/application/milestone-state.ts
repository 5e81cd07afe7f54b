/**
 * A stored milestone row as the read side shows it at request time. The rule itself is the
 * domain's `milestoneAt` (src/domain/milestone-state.ts) for single rows, and its SQL twin (the
 * `sla_milestone_*` functions of migrations/0008_milestone_rules.sql, used through
 * src/tables/milestones.ts `milestoneSql`) for filters and counts over many;
 * test/integration/milestone-rules.test.ts pins the two to the same table of cases.
 *
 * milestones.state is the state at projection time (as of the incident's latest event): nothing
 * rewrites a row when a warning threshold or a deadline passes, so "warned" and "breached" are
 * derived from the stored times and `now` (the Clock's, passed in).
 */
import type { MilestoneState, MilestoneView } from '../contracts/read';
import { milestoneAt, wholeSeconds, type StoredMilestone } from '../domain';

export interface MilestoneRow {
  incident_id: string;
  milestone: string;
  cycle: number;
  state: MilestoneState;
  start_at: Date | null;
  due_at: Date | null;
  warn_at: Date[];
  met_at: Date | null;
  breached_at: Date | null;
  paused_ms: string | number;
  escalates_to_tier: number | null;
  stopped_at: Date | null;
  overdue_paused_ms: string | number;
}

/** The row in the domain's terms (epoch ms). */
export function storedMilestone(row: MilestoneRow): StoredMilestone {
  return {
    state: row.state,
    startAt: ms(row.start_at),
    dueAt: ms(row.due_at),
    warnAt: row.warn_at.map((w) => w.getTime()),
    metAt: ms(row.met_at),
    breachedAt: ms(row.breached_at),
    stoppedAt: ms(row.stopped_at),
    overduePausedMs: Number(row.overdue_paused_ms),
  };
}

/** The milestone as a dashboard sees it at `now` (GET /v1/incidents/{id}, the stream). */
export function milestoneView(row: MilestoneRow, now: number): MilestoneView {
  const at = milestoneAt(storedMilestone(row), now);
  return {
    milestone: row.milestone,
    cycle: row.cycle,
    state: at.state,
    startAt: iso(row.start_at),
    dueAt: iso(row.due_at),
    warnAt: row.warn_at.map((w) => w.toISOString()),
    metAt: iso(row.met_at),
    breachedAt: at.breachedAt === null ? null : new Date(at.breachedAt).toISOString(),
    remainingSeconds: at.remainingMs === null ? null : wholeSeconds(at.remainingMs),
    pausedSeconds: Math.floor(Number(row.paused_ms) / 1000),
    escalatesToTier: row.escalates_to_tier,
  };
}

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

function ms(d: Date | null): number | null {
  return d ? d.getTime() : null;
}
