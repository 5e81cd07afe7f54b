/**
 * What a milestone's state is at a given instant: the one definition, spelled twice, in
 * TypeScript (`milestoneView`, for single rows) and in SQL (`milestoneSql`, for filters and
 * counts over many). test/unit/read/milestone-view.test.ts pins the first;
 * test/integration/read-api.test.ts checks that list filters and detail agree.
 *
 * milestones.state is the state at projection time (migrations/0001_core.sql): nothing rewrites a
 * row when a warning threshold or a deadline passes, so "warned" and "breached" are derived here
 * from the stored times and `now` (the Clock's, passed in).
 */
import type { MilestoneState, MilestoneView } from '../contracts/read';

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
}

/**
 * The milestone as a dashboard sees it at `now`:
 * - met / met_late are final;
 * - a stored breach (state or breached_at) stands, also once the incident is settled or paused;
 * - not_applicable and paused are as stored;
 * - pending / warned: breached once the deadline is reached (`due_at <= now`, the same instant the
 *   scheduler fires), warned once a warning threshold is reached, else pending.
 */
export function milestoneView(row: MilestoneRow, now: number): MilestoneView {
  const due = row.due_at?.getTime() ?? null;
  const base = {
    milestone: row.milestone,
    cycle: row.cycle,
    startAt: iso(row.start_at),
    dueAt: iso(row.due_at),
    warnAt: row.warn_at.map((w) => w.toISOString()),
    metAt: iso(row.met_at),
    pausedSeconds: Math.floor(Number(row.paused_ms) / 1000),
    escalatesToTier: row.escalates_to_tier,
  };
  const remaining = due === null ? null : Math.floor((due - now) / 1000);
  const breachedAt = iso(row.breached_at ?? row.due_at);
  const open = (state: MilestoneState, breached: boolean) => ({
    ...base,
    state,
    breachedAt: breached ? breachedAt : null,
    remainingSeconds: remaining,
  });
  const settled = (state: MilestoneState, breached: boolean) => ({
    ...base,
    state,
    breachedAt: breached ? breachedAt : null,
    remainingSeconds: null,
  });

  if (row.state === 'met') return settled('met', false);
  if (row.state === 'met_late') return settled('met_late', true);
  const pendingOrWarned = row.state === 'pending' || row.state === 'warned';
  if (row.state === 'breached' || row.breached_at !== null) {
    return pendingOrWarned || row.state === 'breached'
      ? open('breached', true)
      : settled('breached', true);
  }
  if (row.state === 'not_applicable') return settled('not_applicable', false);
  if (row.state === 'paused') return settled('paused', false);
  if (due !== null && due <= now) return open('breached', true);
  if (row.state === 'warned' || row.warn_at.some((w) => w.getTime() <= now)) {
    return open('warned', false);
  }
  return open('pending', false);
}

/**
 * The same rules as SQL predicates over milestones `m`, with `now` the SQL text of the request
 * time (a parameter such as `$3`):
 * - breached: met late, or a stored breach, or open (pending/warned) with the deadline reached;
 * - openAhead: open, no breach, deadline still ahead;
 * - atRisk: openAhead, and a warning threshold reached.
 */
export function milestoneSql(now: string): { breached: string; openAhead: string; atRisk: string } {
  const openAhead = `(m.state IN ('pending', 'warned') AND m.breached_at IS NULL AND m.due_at > ${now})`;
  return {
    breached: `(m.state IN ('breached', 'met_late')
      OR (m.state <> 'met' AND m.breached_at IS NOT NULL)
      OR (m.state IN ('pending', 'warned') AND m.due_at <= ${now}))`,
    openAhead,
    atRisk: `(${openAhead}
      AND (m.state = 'warned' OR EXISTS (SELECT 1 FROM unnest(m.warn_at) w WHERE w <= ${now})))`,
  };
}

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}
