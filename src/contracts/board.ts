/**
 * The wallboard's read contract (GET /v1/board, issue 16): everything the page at /board shows in
 * one answer, so that a wall screen needs one request on load and one per catch-up. Instants are
 * ISO-8601 UTC with milliseconds; durations are whole seconds (as in ./read.ts).
 */
import { z } from 'zod';
import { isTimeZone, MILESTONE_STATES, SEVERITIES, textParam } from './read';

const severity = z.enum(SEVERITIES);
const tier = z.number().int().min(1).max(3);
const instant = z.iso.datetime();
const count = z.number().int();

/** `?x=a,b` and `?x=a&x=b` both mean [a, b] (as in ./read.ts). */
function list<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v: unknown): unknown =>
      (Array.isArray(v) ? (v as unknown[]) : [v])
        .flatMap((s): unknown[] => (typeof s === 'string' ? s.split(',') : [s]))
        .map((s) => (typeof s === 'string' ? s.trim() : s))
        .filter((s) => s !== ''),
    z.array(item).min(1, 'give at least one value'),
  );
}

export const boardQuery = z.strictObject({
  severity: list(severity).optional().describe('Comma-separated or repeated, e.g. I,II'),
  site: textParam.optional().describe('Exact site'),
  tier: list(z.enum(['1', '2', '3']).transform(Number))
    .optional()
    .describe('Effective tier (escalations included), e.g. 2,3'),
  tz: z
    .string()
    .min(1)
    .max(100)
    .refine(isTimeZone, 'must be an IANA time zone, e.g. Asia/Shanghai')
    .optional()
    .describe('IANA zone of "today" and "this month"; default REPORT_TIME_ZONE (Asia/Shanghai)'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .default(100)
    .describe('Most rows in each of atRisk and breached'),
});
export type BoardQuery = z.output<typeof boardQuery>;

const incidentColumns = {
  incidentId: z.string(),
  title: z.string().nullable(),
  severity: severity.nullable(),
  site: z.string().nullable(),
  assignee: z.string().nullable(),
  /** Effective tier: the greater of the lifecycle tier and every escalation reached. */
  tier,
};

export const boardAtRiskItem = z
  .object({
    ...incidentColumns,
    milestone: z.string(),
    cycle: z.number().int(),
    /** `pending` or `warned` at `asOf`; the page recomputes it every second from the instants. */
    state: z.enum(MILESTONE_STATES),
    dueAt: instant,
    warnAt: z.array(instant),
    /** The first warning instant still ahead at `asOf`; null when every warning has passed. */
    nextWarnAt: instant.nullable(),
    remainingSeconds: count,
  })
  .meta({ id: 'BoardAtRiskItem' });

export const boardBreachedItem = z
  .object({
    ...incidentColumns,
    /** The incident's breached milestones (state `breached` now), most overdue first. */
    milestones: z.array(
      z.object({
        milestone: z.string(),
        cycle: z.number().int(),
        dueAt: instant,
        /**
         * Whole seconds past the deadline at `asOf` (the read API's `remainingSeconds`, negated).
         * While `ticking` the page adds the time since `asOf`; otherwise the milestone's clock
         * stands (paused after the breach) and the value is final, or null when the read API
         * gives no figure for a stopped clock.
         */
        overdueSeconds: count.nullable(),
        ticking: z.boolean(),
      }),
    ),
    /** The latest escalation of the incident (automatic or manual); null if never escalated. */
    escalatedAt: instant.nullable(),
  })
  .meta({ id: 'BoardBreachedItem' });

export const board = z
  .object({
    /** The server's clock when the answer was computed: the page corrects its own clock by it. */
    asOf: instant,
    timeZone: z.string(),
    /** Open milestones of open incidents, deadline ahead, least time left first. */
    atRisk: z.array(boardAtRiskItem),
    /** Open incidents with at least one milestone breached now, earliest deadline first. */
    breached: z.array(boardBreachedItem),
    today: z.object({
      /** Today in `timeZone`: [from, to). */
      from: instant,
      to: instant,
      /** Incidents reported today (cancelled ones excluded). */
      reported: count,
      /** Milestones met on time today. */
      met: count,
      /** Milestones whose deadline passed unmet today (met late counts too). */
      breached: count,
      /** Escalations recorded today, per tier reached. */
      escalations: z.array(z.object({ tier, count })),
    }),
    /**
     * This month (in `timeZone`), milestones of incidents reported in it, as the monthly report
     * counts them (GET /v1/reports/monthly): metOnTime / (metOnTime + breached) × 100.
     */
    month: z.object({
      month: z.string(),
      compliance: z.array(
        z.object({
          severity,
          metOnTime: count,
          breached: count,
          compliancePct: z.number().nullable(),
        }),
      ),
    }),
  })
  .meta({ id: 'Board' });
export type Board = z.infer<typeof board>;
export type BoardAtRiskItem = z.infer<typeof boardAtRiskItem>;
export type BoardBreachedItem = z.infer<typeof boardBreachedItem>;
