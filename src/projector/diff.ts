/**
 * What changed between the stored rows of an incident and the rows it projects to now. Writing only
 * the difference matters: an incident's event changes one or two of its milestone rows, and a
 * no-op upsert still costs an index probe, a row lock and (with the read API's stream triggers) a
 * trigger call per row. The stored rows are read, not recomputed, so whatever is in the table is
 * what gets corrected.
 */
import type { MilestoneRow } from '../tables/milestones';
import type { TimerRow } from '../tables/timers';

export interface RowDiff<T> {
  upsert: T[];
  remove: T[];
}

export function diffMilestones(
  stored: MilestoneRow[],
  next: MilestoneRow[],
): RowDiff<MilestoneRow> {
  const key = (m: MilestoneRow) => `${m.incidentId}\u0000${m.milestone}\u0000${m.cycle}`;
  return diff(stored, next, key, sameMilestone);
}

export function diffTimers(stored: TimerRow[], next: TimerRow[]): RowDiff<TimerRow> {
  return diff(stored, next, (t) => t.key, sameTimer);
}

function diff<T>(
  stored: T[],
  next: T[],
  key: (row: T) => string,
  same: (a: T, b: T) => boolean,
): RowDiff<T> {
  const before = new Map(stored.map((r) => [key(r), r]));
  const upsert: T[] = [];
  for (const row of next) {
    const k = key(row);
    const old = before.get(k);
    before.delete(k);
    if (old === undefined || !same(old, row)) upsert.push(row);
  }
  return { upsert, remove: [...before.values()] };
}

function sameMilestone(a: MilestoneRow, b: MilestoneRow): boolean {
  return (
    a.state === b.state &&
    a.startAt === b.startAt &&
    a.dueAt === b.dueAt &&
    a.metAt === b.metAt &&
    a.breachedAt === b.breachedAt &&
    a.pausedMs === b.pausedMs &&
    a.escalatesToTier === b.escalatesToTier &&
    a.stoppedAt === b.stoppedAt &&
    a.overduePausedMs === b.overduePausedMs &&
    a.warnAt.length === b.warnAt.length &&
    a.warnAt.every((w, i) => w === b.warnAt[i])
  );
}

function sameTimer(a: TimerRow, b: TimerRow): boolean {
  return (
    a.generation === b.generation &&
    a.incidentId === b.incidentId &&
    a.milestone === b.milestone &&
    a.cycle === b.cycle &&
    a.kind === b.kind &&
    a.threshold === b.threshold &&
    a.dueAt === b.dueAt &&
    a.deadline === b.deadline
  );
}
