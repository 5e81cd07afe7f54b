/**
 * Calendars measure SLA time. 7×24 is plain arithmetic on epoch ms (the hot path: no luxon).
 * Business calendars have weekly hours in an IANA zone, public holidays and make-up working days
 * (China's 调休: a Saturday that is worked); luxon turns local dates into instants, so DST is
 * handled where the local hours are laid out, and everything after that is arithmetic over
 * precomputed working intervals.
 */

/** ISO weekday, as luxon: 1 = Monday … 7 = Sunday. */
export type Weekday = 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** Local working hours of a day in minutes since local midnight, `from < to ≤ 1440`. */
export interface TimeRange {
  readonly from: number;
  readonly to: number;
}

export interface BusinessCalendarSpec {
  readonly kind: 'business';
  /** IANA zone the hours and dates are in, e.g. 'Asia/Shanghai', 'Europe/Berlin'. */
  readonly zone: string;
  /** Working hours per weekday; a missing or empty day is not worked. Ranges sorted, disjoint. */
  readonly weekly: Readonly<Partial<Record<Weekday, readonly TimeRange[]>>>;
  /** Local dates ('YYYY-MM-DD') with no working time, whatever the weekday. */
  readonly holidays: readonly string[];
  /** Local dates worked although their weekday is not (调休), with `makeUpHours`. */
  readonly makeUpDays: readonly string[];
  readonly makeUpHours: readonly TimeRange[];
}

export type CalendarSpec = { readonly kind: '24x7' } | BusinessCalendarSpec;

export const CALENDAR_24X7: CalendarSpec = Object.freeze({ kind: '24x7' });

/**
 * A compiled calendar. "Working time" is time the SLA clock runs.
 * Invariants: `between(a, b) ≥ 0`; `between(a, add(a, w)) = w`; `add` is monotonic in both
 * arguments; `add(t, 0) = t`.
 */
export interface Calendar {
  readonly spec: CalendarSpec;
  /** Earliest instant by which `workMs` of working time has elapsed after `start`. */
  add(start: number, workMs: number): number;
  /** Working time in [from, to); 0 if `to ≤ from`. */
  between(from: number, to: number): number;
}

/** The compiled calendar for a spec; compiled once per spec object (cached). */
export function calendarFor(spec: CalendarSpec): Calendar {
  void spec;
  throw new Error('not implemented');
}
