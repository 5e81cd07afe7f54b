/**
 * The JSON form of an SLA policy and its zod parser into the domain `Policy` (src/domain/policy.ts).
 *
 * Document conventions, chosen so that a person can read and edit a policy:
 * - durations are ISO-8601 ('PT5M', 'PT24H'); years and months are refused (their length varies);
 * - instants are ISO-8601 with an offset; local dates 'YYYY-MM-DD'; working hours 'HH:mm-HH:mm'
 *   ('24:00' may end a range);
 * - milestones are an object keyed by milestone id, so error paths name them
 *   (`milestones.response.limits.II`), and their order is the evaluation order.
 *
 * A bad document is rejected with the path and reason of every bad field.
 */
import { Duration, IANAZone } from 'luxon';
import { z } from 'zod';
import { line } from './events';
import {
  MEETING_EVENT_TYPES,
  SEVERITIES,
  parseInstant,
  type BusinessCalendarSpec,
  type CalendarSpec,
  type MeetingEventType,
  type MilestoneRule,
  type Policy,
  type Severity,
  type TimeRange,
  type WarningThreshold,
  type Weekday,
} from '../domain';

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
type WeekdayName = (typeof WEEKDAYS)[number];

const MILESTONE_ID = /^[a-z][a-z0-9_]{0,63}$/;

/**
 * The longest duration a policy or schedule may name, and the longest stretch of days a business
 * calendar may have no working time in: a year and a day. Beyond it a deadline can fall outside
 * what a timestamp holds, or the calendar walk finds no working time (Infinity), and the
 * projector could not write the incident's milestones (found by a tester: the partition stalled).
 */
export const MAX_POLICY_SPAN_DAYS = 366;
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const MAX_POLICY_SPAN_MS = MAX_POLICY_SPAN_DAYS * DAY;

/**
 * A positive ISO-8601 duration without years or months, at most MAX_POLICY_SPAN_DAYS (P366D), as
 * whole milliseconds.
 */
export const duration = (opts: { allowZero: boolean }) =>
  z.string().transform((text, ctx) => {
    const d = Duration.fromISO(text);
    if (!d.isValid) {
      ctx.addIssue({
        code: 'custom',
        message: `not an ISO-8601 duration: ${JSON.stringify(text)}`,
      });
      return z.NEVER;
    }
    if (d.years !== 0 || d.quarters !== 0 || d.months !== 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'years and months have no fixed length; use weeks, days, hours…',
      });
      return z.NEVER;
    }
    const ms = d.as('milliseconds');
    if (!Number.isInteger(ms) || ms < 0 || (!opts.allowZero && ms === 0)) {
      ctx.addIssue({
        code: 'custom',
        message: opts.allowZero ? 'must not be negative' : 'must be positive',
      });
      return z.NEVER;
    }
    if (ms > MAX_POLICY_SPAN_MS) {
      ctx.addIssue({ code: 'custom', message: `must be at most P${MAX_POLICY_SPAN_DAYS}D` });
      return z.NEVER;
    }
    return ms;
  });

const instant = z.string().transform((text, ctx) => {
  const ms = /[zZ]|[+-]\d\d:?\d\d$/.test(text) ? parseInstant(text) : null;
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 instant with an offset' });
    return z.NEVER;
  }
  return ms;
});

export const localDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
  .refine((s) => {
    const [y, m, d] = s.split('-').map(Number) as [number, number, number];
    const date = new Date(Date.UTC(y, m - 1, d));
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  }, 'not a calendar date');

const timeRange = z.string().transform((text, ctx): TimeRange => {
  const m = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(text);
  const from = m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  const to = m ? Number(m[3]) * 60 + Number(m[4]) : NaN;
  const okMinutes = m !== null && Number(m[2]) < 60 && Number(m[4]) < 60;
  if (!okMinutes || !(from >= 0 && from < to && to <= 1440)) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be "HH:mm-HH:mm" with start before end, ending by 24:00',
    });
    return z.NEVER;
  }
  return { from, to };
});

/** Ranges of one day: sorted and non-overlapping (so each minute is counted once). */
const dayHours = z.array(timeRange).superRefine((ranges, ctx) => {
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.from < ranges[i - 1]!.to) {
      ctx.addIssue({
        code: 'custom',
        message: 'ranges must be in order and must not overlap',
        path: [i],
      });
    }
  }
});

/**
 * The longest run of days without working time that the holidays make (days from the last working
 * day before it to the first after it), between the first and the last holiday; null without
 * holidays. A day works when its weekday has hours and it is no holiday, or it is a make-up day.
 * Dates are plain calendar dates (the zone does not change which dates they are).
 */
function longestDaysOff(cal: {
  weekly: Partial<Record<WeekdayName, readonly unknown[]>>;
  holidays: readonly string[];
  makeUpDays: readonly string[];
}): { from: string; to: string; days: number } | null {
  if (cal.holidays.length === 0) return null;
  if (!WEEKDAYS.some((d) => (cal.weekly[d]?.length ?? 0) > 0)) return null; // refused above
  const holidays = new Set(cal.holidays);
  const makeUp = new Set(cal.makeUpDays);
  const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const works = (ms: number) =>
    makeUp.has(date(ms)) ||
    ((cal.weekly[WEEKDAYS[(new Date(ms).getUTCDay() + 6) % 7]!]?.length ?? 0) > 0 &&
      !holidays.has(date(ms)));
  // The last working day before `ms` (at most a week back: some weekday has hours, and only a
  // holiday or a make-up day changes that).
  const workingBefore = (ms: number) => {
    let d = ms - DAY;
    while (!works(d)) d -= DAY;
    return d;
  };
  const starts = [...holidays].map((h) => Date.parse(`${h}T00:00:00Z`)).sort((a, b) => a - b);
  let longest: { from: string; to: string; days: number } | null = null;
  let next = 0; // index of the first holiday after `day`
  let lastWorking = workingBefore(starts[0]!);
  for (let day = starts[0]!; ; day += DAY) {
    if (!works(day)) continue;
    const days = Math.round((day - lastWorking) / DAY);
    if (longest === null || days > longest.days) {
      longest = { from: date(lastWorking), to: date(day), days };
    }
    lastWorking = day;
    while (next < starts.length && starts[next]! <= day) next++;
    if (next === starts.length) return longest;
    // Between here and a week before the next holiday, every week has its working days.
    if (starts[next]! - WEEK > day) {
      day = starts[next]! - WEEK - DAY;
      lastWorking = workingBefore(day + DAY);
    }
  }
}

const calendar24x7 = z.strictObject({ kind: z.literal('24x7') });

const businessCalendar = z
  .strictObject({
    kind: z.literal('business'),
    zone: z.string().refine((zone) => IANAZone.isValidZone(zone), 'not an IANA time zone'),
    weekly: z.strictObject(
      Object.fromEntries(WEEKDAYS.map((d) => [d, dayHours.optional()])) as Record<
        WeekdayName,
        z.ZodOptional<typeof dayHours>
      >,
    ),
    holidays: z.array(localDate).default([]),
    makeUpDays: z.array(localDate).default([]),
    /** Hours of a make-up working day; default: Monday's hours. */
    makeUpHours: dayHours.optional(),
  })
  .superRefine((cal, ctx) => {
    if (!WEEKDAYS.some((d) => (cal.weekly[d]?.length ?? 0) > 0)) {
      ctx.addIssue({
        code: 'custom',
        message: 'a business calendar needs working hours on some weekday',
        path: ['weekly'],
      });
    }
    const holidays = new Set(cal.holidays);
    cal.makeUpDays.forEach((day, i) => {
      if (holidays.has(day)) {
        ctx.addIssue({
          code: 'custom',
          message: `${day} is also a holiday`,
          path: ['makeUpDays', i],
        });
      }
    });
    if (cal.makeUpDays.length > 0 && (cal.makeUpHours ?? cal.weekly.mon ?? []).length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: 'make-up days need makeUpHours (Monday has no hours to copy)',
        path: ['makeUpHours'],
      });
    }
    const gap = longestDaysOff(cal);
    if (gap !== null && gap.days > MAX_POLICY_SPAN_DAYS) {
      ctx.addIssue({
        code: 'custom',
        message:
          `the holidays leave no working day from ${gap.from} to ${gap.to} (${gap.days} days; ` +
          `at most ${MAX_POLICY_SPAN_DAYS})`,
        path: ['holidays'],
      });
    }
  })
  .transform((cal): BusinessCalendarSpec => {
    const weekly: Partial<Record<Weekday, readonly TimeRange[]>> = {};
    WEEKDAYS.forEach((d, i) => {
      const hours = cal.weekly[d];
      if (hours !== undefined && hours.length > 0) weekly[(i + 1) as Weekday] = hours;
    });
    return {
      kind: 'business',
      zone: cal.zone,
      weekly,
      holidays: cal.holidays,
      makeUpDays: cal.makeUpDays,
      makeUpHours: cal.makeUpHours ?? cal.weekly.mon ?? [],
    };
  });

const calendarSchema = z.discriminatedUnion('kind', [calendar24x7, businessCalendar]);

const warningSchema = z.union([
  z.strictObject({
    fraction: z
      .number()
      .gt(0, 'must be above 0')
      .lt(1, 'must be below 1 (1 is the deadline itself)'),
  }),
  z.strictObject({ before: duration({ allowZero: false }) }),
]);

const tierSchema = z.union([z.literal(1), z.literal(2), z.literal(3)]);

const milestoneSchema = z
  .strictObject({
    metBy: z.enum(MEETING_EVENT_TYPES as [MeetingEventType, ...MeetingEventType[]]),
    limits: z.record(z.enum(SEVERITIES), duration({ allowZero: false })),
    /**
     * What starts the clock: the report (and reopens), or the resolution (resolved or closed; such a
     * milestone, e.g. follow_up, is met after the incident is handled). Default: the report.
     */
    startsOn: z.enum(['report', 'resolution']).default('report'),
    /** The clock starts this long after its start event; default: at once. */
    startAfter: duration({ allowZero: true }).optional(),
    warnings: z.array(warningSchema),
    pausable: z.boolean().default(false),
    restartsOnReopen: z.boolean().default(false),
    escalatesToTier: tierSchema.nullable(),
  })
  .refine((m) => m.startsOn === 'report' || m.restartsOnReopen, {
    message:
      'a milestone started by the resolution owes a new cycle after every reopen: must be true',
    path: ['restartsOnReopen'],
  });

export const PolicyDocumentSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'letters, digits, ".", "_", ":", "-"'),
    version: z.number().int().positive(),
    effectiveFrom: instant,
    name: line(200),
    calendar: calendarSchema,
    milestones: z
      .record(z.string().regex(MILESTONE_ID, 'milestone ids are lower_snake_case'), milestoneSchema)
      .refine((m) => Object.keys(m).length > 0, 'a policy needs at least one milestone'),
  })
  .transform((doc): Policy => ({
    id: doc.id,
    version: doc.version,
    effectiveFrom: doc.effectiveFrom,
    name: doc.name,
    calendar: doc.calendar,
    milestones: Object.entries(doc.milestones).map(([id, m]): MilestoneRule => ({
      id,
      metBy: m.metBy,
      limits: m.limits,
      startsOn: m.startsOn,
      startAfterMs: m.startAfter ?? 0,
      warnings: m.warnings.map((w): WarningThreshold =>
        'fraction' in w ? { kind: 'fraction', value: w.fraction } : { kind: 'lead', ms: w.before },
      ),
      pausable: m.pausable,
      restartsOnReopen: m.restartsOnReopen,
      escalatesToTier: m.escalatesToTier,
    })),
  }));

/** The document as written (JSON), e.g. for typing fixtures. */
export type PolicyDocument = z.input<typeof PolicyDocumentSchema>;

export interface PolicyFieldError {
  /** Dotted path of the bad field, e.g. `milestones.response.limits.II`; '' for the document. */
  readonly path: string;
  readonly message: string;
}

export type PolicyParseResult =
  { ok: true; policy: Policy } | { ok: false; errors: PolicyFieldError[] };

export class PolicyValidationError extends Error {
  readonly code = 'POLICY_INVALID';
  readonly retriable = false;
  constructor(readonly errors: readonly PolicyFieldError[]) {
    super(
      `invalid SLA policy: ${errors.map((e) => `${e.path || '(document)'}: ${e.message}`).join('; ')}`,
    );
    this.name = 'PolicyValidationError';
  }
}

/** Parses and validates a policy document (already JSON-decoded). */
export function parsePolicy(doc: unknown): PolicyParseResult {
  const r = PolicyDocumentSchema.safeParse(doc);
  if (r.success) return { ok: true, policy: r.data };
  return {
    ok: false,
    errors: r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  };
}

/** Like parsePolicy but throws a PolicyValidationError listing the bad paths. */
export function parsePolicyOrThrow(doc: unknown): Policy {
  const r = parsePolicy(doc);
  if (!r.ok) throw new PolicyValidationError(r.errors);
  return r.policy;
}

/** The document form of a policy (inverse of parsePolicy), e.g. for GET /v1/policies/{id}. */
export function policyToDocument(policy: Policy): PolicyDocument {
  return {
    id: policy.id,
    version: policy.version,
    effectiveFrom: new Date(policy.effectiveFrom).toISOString(),
    name: policy.name,
    calendar: calendarToDocument(policy.calendar),
    milestones: Object.fromEntries(
      policy.milestones.map((m) => [
        m.id,
        {
          metBy: m.metBy,
          limits: Object.fromEntries(
            SEVERITIES.map((s) => [s, isoDuration(m.limits[s])]),
          ) as Record<Severity, string>,
          ...(m.startsOn === 'report' ? {} : { startsOn: m.startsOn }),
          ...(m.startAfterMs > 0 ? { startAfter: isoDuration(m.startAfterMs) } : {}),
          warnings: m.warnings.map((w) =>
            w.kind === 'fraction' ? { fraction: w.value } : { before: isoDuration(w.ms) },
          ),
          pausable: m.pausable,
          restartsOnReopen: m.restartsOnReopen,
          escalatesToTier: m.escalatesToTier,
        },
      ]),
    ),
  };
}

function calendarToDocument(cal: CalendarSpec): PolicyDocument['calendar'] {
  if (cal.kind === '24x7') return { kind: '24x7' };
  const weekly: Partial<Record<WeekdayName, string[]>> = {};
  WEEKDAYS.forEach((d, i) => {
    const hours = cal.weekly[(i + 1) as Weekday];
    if (hours !== undefined && hours.length > 0) weekly[d] = hours.map(rangeText);
  });
  return {
    kind: 'business',
    zone: cal.zone,
    weekly,
    holidays: [...cal.holidays],
    makeUpDays: [...cal.makeUpDays],
    makeUpHours: cal.makeUpHours.map(rangeText),
  };
}

function rangeText(r: TimeRange): string {
  const hm = (m: number) =>
    `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${hm(r.from)}-${hm(r.to)}`;
}

/** ms → 'PT1H30M' (hours, minutes, seconds; no days, so it reads the same on every calendar). */
function isoDuration(ms: number): string {
  if (ms === 0) return 'PT0S';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `PT${h ? `${h}H` : ''}${m ? `${m}M` : ''}${s ? `${s}S` : ''}`;
}
