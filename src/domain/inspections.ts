/**
 * Inspection obligations (seed §4.5.8.4 / §4.5.7.4 巡检: a free inspection every quarter with a
 * written report, and one ahead of every major holiday or event). A schedule names a site (or a
 * customer); each due inspection is an obligation with a deadline, warned before it and breached
 * when it passes unmet, like a milestone (SPEC §4: same topics, `data.obligation: "inspection"`).
 * It is met by `inspection.completed` naming its id.
 *
 * Pure: dates in, instants out (luxon only turns local dates into instants); no clock, no I/O.
 */
import { DateTime } from 'luxon';

/** A schedule as the domain needs it (validated at the edge: src/contracts/inspections.ts). */
export interface InspectionSchedule {
  readonly id: string;
  /** IANA zone in which quarters and plain dates are read. */
  readonly timeZone: string;
  /** One inspection per calendar quarter overlapping [from, until] (ISO dates, inclusive). */
  readonly quarterly: boolean;
  readonly from: string;
  readonly until: string;
  /** Inspections before listed holidays or events: due at `dueAt` (epoch ms). */
  readonly dates: readonly {
    readonly id: string;
    readonly dueAt: number;
    readonly label: string;
  }[];
  /** Lead time of the one warning (ms before the deadline); 0: no warning. */
  readonly warnBeforeMs: number;
}

export interface InspectionObligation {
  /** `<scheduleId>:<YYYY>-Q<n>` or `<scheduleId>:<date id>`: what `inspection.completed` names. */
  readonly inspectionId: string;
  readonly kind: 'quarterly' | 'listed';
  /** "2026-Q4", or the holiday/event named in the schedule. */
  readonly label: string;
  /** The deadline (epoch ms): the end of the quarter, or the listed instant. */
  readonly dueAt: number;
  /** The warning instant (epoch ms), or null when the schedule asks for none. */
  readonly warnAt: number | null;
}

/** Default lead time of an inspection warning: two weeks before the deadline. */
export const DEFAULT_INSPECTION_WARN_BEFORE = 'P14D';

/**
 * The obligations a schedule creates, ordered by deadline. A quarterly inspection is due by the
 * end of its quarter (00:00 of the next quarter's first day in the schedule's zone).
 */
export function planInspections(schedule: InspectionSchedule): InspectionObligation[] {
  const out: InspectionObligation[] = [];
  const warn = (dueAt: number) =>
    schedule.warnBeforeMs > 0 ? dueAt - schedule.warnBeforeMs : null;
  if (schedule.quarterly) {
    const zone = schedule.timeZone;
    const until = DateTime.fromISO(schedule.until, { zone });
    let q = DateTime.fromISO(schedule.from, { zone }).startOf('quarter');
    while (q <= until) {
      const label = `${q.year}-Q${q.quarter}`;
      const dueAt = q.plus({ quarters: 1 }).toMillis();
      out.push({
        inspectionId: `${schedule.id}:${label}`,
        kind: 'quarterly',
        label,
        dueAt,
        warnAt: warn(dueAt),
      });
      q = q.plus({ quarters: 1 });
    }
  }
  for (const d of schedule.dates) {
    out.push({
      inspectionId: `${schedule.id}:${d.id}`,
      kind: 'listed',
      label: d.label,
      dueAt: d.dueAt,
      warnAt: warn(d.dueAt),
    });
  }
  return out.sort((a, b) => a.dueAt - b.dueAt || a.inspectionId.localeCompare(b.inspectionId));
}

/**
 * Inspection timers live in the `timers` table with the milestones' (one scheduler, one outbox).
 * Their subject column holds `inspection/<inspectionId>`: "/" is not allowed in an incident id
 * (src/contracts/events.ts), so a timer can never be mistaken for an incident's.
 */
export const INSPECTION_TIMER_PREFIX = 'inspection/';
export const INSPECTION_MILESTONE = 'inspection';

export function inspectionTimerSubject(inspectionId: string): string {
  return `${INSPECTION_TIMER_PREFIX}${inspectionId}`;
}

export function isInspectionTimerSubject(subject: string): boolean {
  return subject.startsWith(INSPECTION_TIMER_PREFIX);
}

export interface InspectionTimer {
  /** Stable per inspection and kind (re-planning is an upsert). */
  readonly timerKey: string;
  /** The planned due time in ms (a changed plan is a new generation). */
  readonly generation: number;
  readonly subject: string;
  readonly kind: 'warning' | 'breach';
  /** The warning's lead time as the schedule states it (e.g. "P14D"); null for the breach. */
  readonly threshold: string | null;
  readonly dueAt: number;
  readonly deadline: number;
}

/** The warning (if any) and the breach timer of an obligation. */
export function inspectionTimers(o: InspectionObligation, warnBefore: string): InspectionTimer[] {
  const subject = inspectionTimerSubject(o.inspectionId);
  const timers: InspectionTimer[] = [];
  if (o.warnAt !== null) {
    timers.push({
      timerKey: `${subject}/warning`,
      generation: o.warnAt,
      subject,
      kind: 'warning',
      threshold: warnBefore,
      dueAt: o.warnAt,
      deadline: o.dueAt,
    });
  }
  timers.push({
    timerKey: `${subject}/breach`,
    generation: o.dueAt,
    subject,
    kind: 'breach',
    threshold: null,
    dueAt: o.dueAt,
    deadline: o.dueAt,
  });
  return timers;
}

export type InspectionSkipReason =
  /** No obligation row for the timer (its schedule is gone). */
  | 'inspection_missing'
  /** Completed before the timer came due: nothing to warn about or breach. */
  | 'inspection_done'
  /** The obligation's deadline is not the timer's (re-planned). */
  | 'replanned'
  /** SPEC §4 "discovered late": a warning whose deadline has passed; only the breach is emitted. */
  | 'deadline_passed';

/**
 * Fire or skip a due inspection timer at `now` (the database clock), by the milestone rules of
 * SPEC §4: nothing fires for an obligation already met; a warning fires only while the deadline
 * is still ahead. `completedAt`: the earliest completion's effective time, or null.
 */
export function decideInspectionFiring(
  timer: { kind: 'warning' | 'breach'; deadline: number },
  obligation: { dueAt: number } | undefined,
  completedAt: number | null,
  now: number,
): { fire: true } | { fire: false; reason: InspectionSkipReason } {
  if (!obligation) return { fire: false, reason: 'inspection_missing' };
  if (obligation.dueAt !== timer.deadline) return { fire: false, reason: 'replanned' };
  if (completedAt !== null && completedAt <= now) return { fire: false, reason: 'inspection_done' };
  if (timer.kind === 'warning' && now >= timer.deadline) {
    return { fire: false, reason: 'deadline_passed' };
  }
  return { fire: true };
}

/** The state of an obligation at `at`, in the milestone vocabulary of SPEC §5. */
export type InspectionState = 'pending' | 'warned' | 'breached' | 'met' | 'met_late';

/**
 * pending → warned (warning instant passed) → breached (deadline passed unmet); met / met_late
 * once completed (at or before the deadline / after it). A completion after `at` is not known yet.
 */
export function inspectionStateAt(
  o: { dueAt: number; warnAt: number | null },
  completedAt: number | null,
  at: number,
): InspectionState {
  if (completedAt !== null && completedAt <= at) return completedAt <= o.dueAt ? 'met' : 'met_late';
  if (at >= o.dueAt) return 'breached';
  if (o.warnAt !== null && at >= o.warnAt) return 'warned';
  return 'pending';
}

/**
 * SPEC §4 "Retraction": a completion learned after the breach fired retracts it only when it
 * shows the inspection was done at or before the deadline.
 */
export function completionRetractsBreach(completedAt: number, dueAt: number): boolean {
  return completedAt <= dueAt;
}
