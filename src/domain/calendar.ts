/**
 * Calendars measure SLA time. 7×24 is plain arithmetic on epoch ms (the hot path: no luxon).
 * Business calendars have weekly hours in an IANA zone, public holidays and make-up working days
 * (China's 调休: a Saturday that is worked); luxon turns local dates into instants, so DST is
 * handled where the local hours are laid out, and everything after that is arithmetic over
 * precomputed working intervals.
 */
import { DateTime, IANAZone } from 'luxon';

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

const compiled = new WeakMap<CalendarSpec, Calendar>();
/**
 * Second-level cache by content: policies re-read from storage are new objects with the same
 * calendar, and a business calendar's laid-out weeks are worth keeping. Bounded, dropped when full.
 */
const compiledByContent = new Map<string, Calendar>();
const MAX_CALENDARS = 64;
const CONTINUOUS: Calendar = {
  spec: CALENDAR_24X7,
  add: (s, w) => s + Math.max(0, w),
  between: (f, t) => (t > f ? t - f : 0),
};

/** The compiled calendar for a spec; compiled once per spec (cached by identity, then content). */
export function calendarFor(spec: CalendarSpec): Calendar {
  if (spec.kind === '24x7') return CONTINUOUS;
  let cal = compiled.get(spec);
  if (cal === undefined) {
    const key = JSON.stringify(spec);
    cal = compiledByContent.get(key);
    if (cal === undefined) {
      if (compiledByContent.size >= MAX_CALENDARS) compiledByContent.clear();
      cal = new Business(spec);
      compiledByContent.set(key, cal);
    }
    compiled.set(spec, cal);
  }
  return cal;
}

const DAY_MS = 86_400_000;
/** Working intervals are laid out per UTC-aligned chunk of this length (a week). */
const CHUNK_MS = 7 * DAY_MS;
/** A calendar with no working time in this many chunks (~20 years) is treated as never reaching. */
const MAX_EMPTY_CHUNKS = 1_000;
/** Bound on cached chunks per calendar; the cache is simply dropped when it grows past it. */
const MAX_CACHED_CHUNKS = 2_048;

/**
 * Working intervals of one chunk [k·CHUNK_MS, (k+1)·CHUNK_MS): sorted, disjoint instants.
 * `cum[i]` is the working time in the chunk before `start[i]`; `total` the chunk's working time.
 */
interface Chunk {
  readonly start: Float64Array;
  readonly end: Float64Array;
  readonly cum: Float64Array;
  readonly total: number;
}

class Business implements Calendar {
  private readonly chunks = new Map<number, Chunk>();
  private readonly holidays: ReadonlySet<string>;
  private readonly makeUpDays: ReadonlySet<string>;

  constructor(readonly spec: BusinessCalendarSpec) {
    if (!IANAZone.isValidZone(spec.zone)) throw new RangeError(`unknown time zone ${spec.zone}`);
    this.holidays = new Set(spec.holidays);
    this.makeUpDays = new Set(spec.makeUpDays);
  }

  between(from: number, to: number): number {
    if (!(to > from)) return 0;
    const kf = Math.floor(from / CHUNK_MS);
    const kt = Math.floor(to / CHUNK_MS);
    if (kf === kt) {
      const c = this.chunk(kf);
      return workBefore(c, to) - workBefore(c, from);
    }
    const first = this.chunk(kf);
    let sum = first.total - workBefore(first, from);
    for (let k = kf + 1; k < kt; k++) sum += this.chunk(k).total;
    return sum + workBefore(this.chunk(kt), to);
  }

  add(start: number, workMs: number): number {
    if (!(workMs > 0)) return start;
    let k = Math.floor(start / CHUNK_MS);
    let c = this.chunk(k);
    // `target`: working time from the chunk's beginning at which the answer lies.
    let target = workBefore(c, start) + workMs;
    let empty = 0;
    while (target > c.total) {
      target -= c.total;
      empty = c.total > 0 ? 0 : empty + 1;
      if (empty > MAX_EMPTY_CHUNKS) return Number.POSITIVE_INFINITY;
      c = this.chunk(++k);
    }
    // First interval whose end reaches the target: the earliest instant with that much work.
    let lo = 0;
    let hi = c.start.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (c.cum[mid]! + (c.end[mid]! - c.start[mid]!) >= target) hi = mid;
      else lo = mid + 1;
    }
    return c.start[lo]! + (target - c.cum[lo]!);
  }

  private chunk(k: number): Chunk {
    let c = this.chunks.get(k);
    if (c === undefined) {
      if (this.chunks.size >= MAX_CACHED_CHUNKS) this.chunks.clear();
      c = this.layOut(k);
      this.chunks.set(k, c);
    }
    return c;
  }

  /**
   * The only place that uses luxon: walks the local dates overlapping the chunk and turns each
   * day's hours into instants in the zone. `set({hour, minute})` on a local date resolves DST
   * (a time in the spring-forward gap moves forward), and '24:00' is the next local midnight, so a
   * 23 h or 25 h day has 23 h or 25 h of "00:00–24:00".
   */
  private layOut(k: number): Chunk {
    const lo = k * CHUNK_MS;
    const hi = lo + CHUNK_MS;
    const starts: number[] = [];
    const ends: number[] = [];
    let day = DateTime.fromMillis(lo, { zone: this.spec.zone }).startOf('day');
    while (day.toMillis() < hi) {
      const next = day.plus({ days: 1 }).startOf('day');
      const date = day.toISODate() ?? '';
      const ranges = this.holidays.has(date)
        ? []
        : this.makeUpDays.has(date)
          ? this.spec.makeUpHours
          : (this.spec.weekly[day.weekday as Weekday] ?? []);
      for (const r of ranges) {
        const s = Math.max(lo, localTime(day, next, r.from));
        const e = Math.min(hi, localTime(day, next, r.to));
        if (e <= s) continue;
        // Ranges touching across midnight (…–24:00, 00:00–…) merge into one interval.
        if (ends.length > 0 && ends[ends.length - 1] === s) ends[ends.length - 1] = e;
        else {
          starts.push(s);
          ends.push(e);
        }
      }
      day = next;
    }
    const cum = new Float64Array(starts.length);
    let total = 0;
    for (let i = 0; i < starts.length; i++) {
      cum[i] = total;
      total += ends[i]! - starts[i]!;
    }
    return { start: Float64Array.from(starts), end: Float64Array.from(ends), cum, total };
  }
}

function localTime(day: DateTime, nextDay: DateTime, minuteOfDay: number): number {
  if (minuteOfDay >= 1440) return nextDay.toMillis();
  return day.set({ hour: Math.floor(minuteOfDay / 60), minute: minuteOfDay % 60 }).toMillis();
}

/** Working time in chunk `c` before instant `t` (t within or at the edges of the chunk). */
function workBefore(c: Chunk, t: number): number {
  // Last interval starting at or before t.
  let lo = 0;
  let hi = c.start.length - 1;
  if (hi < 0 || t <= c.start[0]!) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (c.start[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return c.cum[lo]! + Math.min(t, c.end[lo]!) - c.start[lo]!;
}
