/**
 * The read API's contract (SPEC §5): zod schemas for query parameters (they validate requests)
 * and for responses (they type the handlers and feed the OpenAPI document). Instants in responses
 * are ISO-8601 UTC with milliseconds; durations are whole seconds.
 *
 * Query parameters are strict: an unknown parameter is a 400 naming it, so a typo (`severty=I`)
 * is never silently ignored into an unfiltered answer.
 */
import { z } from 'zod';
import { ValidationError } from '../errors';
import { instantParam, line } from './events';
import { inspectionReportSection } from './inspections';

import { SERVICE_KINDS, SEVERITIES } from '../domain';

export { SEVERITIES };
export const INCIDENT_STATUSES = ['pending', 'open', 'resolved', 'closed', 'cancelled'] as const;
export const MILESTONE_STATES = [
  'pending',
  'warned',
  'met',
  'met_late',
  'breached',
  'paused',
  'not_applicable',
] as const;
export type MilestoneState = (typeof MILESTONE_STATES)[number];

const severity = z.enum(SEVERITIES);
const tier = z.number().int().min(1).max(3);
const instantOut = z.iso.datetime();
const nullableInstant = instantOut.nullable();

// ---------------------------------------------------------------------------------------------
// Query parameter building blocks

/** `?x=a,b` and `?x=a&x=b` both mean [a, b]. */
function list<T extends z.ZodType>(item: T) {
  return z.preprocess(
    (v: unknown): unknown => {
      const values: unknown[] = Array.isArray(v) ? (v as unknown[]) : [v];
      return values
        .flatMap((s): unknown[] => (typeof s === 'string' ? s.split(',') : [s]))
        .map((s) => (typeof s === 'string' ? s.trim() : s))
        .filter((s) => s !== '');
    },
    z.array(item).min(1, 'give at least one value'),
  );
}

const booleanParam = z.enum(['true', 'false']).transform((s) => s === 'true');
const limitParam = (def: number, max: number) =>
  z.coerce.number().int().min(1).max(max).default(def);
/**
 * A text query or path parameter matched exactly against stored text: no control characters (a
 * NUL reached Postgres as a 500 before), 1–200 characters. Errors name the parameter (parseInput).
 */
export const textParam = line(200);

// ---------------------------------------------------------------------------------------------
// Requests

export const LIST_SORTS = ['-reportedAt', 'reportedAt', 'severity'] as const;
export type ListSort = (typeof LIST_SORTS)[number];

export const listIncidentsQuery = z
  .strictObject({
    status: list(z.enum(['open', 'resolved', 'closed', 'cancelled']))
      .optional()
      .describe('Comma-separated or repeated. Unreported (pending) incidents are never listed.'),
    severity: list(severity).optional().describe('Comma-separated or repeated, e.g. I,II'),
    tier: list(z.enum(['1', '2', '3']).transform(Number))
      .optional()
      .describe('Effective tier (escalations included), e.g. 2,3'),
    site: textParam.optional().describe('Exact site'),
    breached: booleanParam
      .optional()
      .describe('true: some milestone breached (met late, or unmet past its deadline) by now'),
    atRisk: booleanParam
      .optional()
      .describe('true: some open milestone passed a warning threshold, deadline still ahead'),
    reportedFrom: instantParam.optional().describe('Reported at or after (ISO-8601 with offset)'),
    reportedTo: instantParam.optional().describe('Reported before (ISO-8601 with offset)'),
    sort: z
      .enum(LIST_SORTS)
      .default('-reportedAt')
      .describe(
        '-reportedAt: newest first; reportedAt: oldest first; severity: I first, then newest',
      ),
    cursor: z
      .string()
      .min(1)
      .max(1000)
      .optional()
      .describe("The previous page's nextCursor (opaque; only with the same sort)"),
    limit: limitParam(50, 200).describe('Page size'),
  })
  .superRefine((q, ctx) => {
    if (q.reportedFrom && q.reportedTo && Date.parse(q.reportedFrom) >= Date.parse(q.reportedTo)) {
      ctx.addIssue({ code: 'custom', path: ['reportedTo'], message: 'must be after reportedFrom' });
    }
  });
export type ListIncidentsQuery = z.output<typeof listIncidentsQuery>;

export const incidentIdParams = z.strictObject({ id: textParam });

/** ISO-8601 duration (PT30M) or whole seconds. */
const horizonParam = z.string().transform((text, ctx) => {
  const seconds = parseDurationSeconds(text);
  if (seconds === null || seconds <= 0 || seconds > 30 * 86400) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a duration up to 30 days: seconds (3600) or ISO-8601 (PT1H)',
    });
    return z.NEVER;
  }
  return seconds;
});

export const atRiskQuery = z.strictObject({
  horizon: horizonParam
    .default(3600)
    .describe('Open milestones due within this window: seconds or ISO-8601 (PT1H, the default)'),
  includeBreached: booleanParam
    .default(false)
    .describe('true: also open milestones already past their deadline (listed first)'),
  severity: list(severity).optional().describe('Comma-separated or repeated'),
  site: textParam.optional().describe('Exact site'),
  limit: limitParam(100, 500),
});
export type AtRiskQuery = z.output<typeof atRiskQuery>;

export const monthlyReportQuery = z.strictObject({
  month: z
    .string()
    .regex(/^[1-9]\d{3}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM, e.g. 2026-11')
    .refine((m) => m < '9999-12', 'must be before 9999-12')
    .describe('YYYY-MM'),
  tz: z
    .string()
    .min(1)
    .max(100)
    .refine(isTimeZone, 'must be an IANA time zone, e.g. Asia/Shanghai')
    .optional()
    .describe("IANA zone of the month's boundaries; default REPORT_TIME_ZONE (Asia/Shanghai)"),
  format: z
    .enum(['json', 'csv'])
    .optional()
    .describe('Overrides the Accept header (handy for links in a browser)'),
});
export type MonthlyReportQuery = z.output<typeof monthlyReportQuery>;

export const policyIdParams = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'not a policy id'),
});

export const streamQuery = z.strictObject({
  severity: list(severity).optional().describe('Only events about incidents of these severities'),
  site: textParam.optional().describe('Only events about incidents at this site'),
});
export type StreamQuery = z.output<typeof streamQuery>;

// ---------------------------------------------------------------------------------------------
// Responses

export const milestoneView = z
  .object({
    milestone: z.string(),
    /** 0 first; a reopen starts cycle 1 of the milestones that restart. */
    cycle: z.number().int(),
    /**
     * The state now (src/domain/milestone-state.ts): pending, warned and breached follow from the
     * times and the request time; `paused` with a `breachedAt` was paused after its deadline (the
     * breach stands).
     */
    state: z.enum(MILESTONE_STATES),
    startAt: nullableInstant,
    dueAt: nullableInstant,
    warnAt: z.array(instantOut),
    metAt: nullableInstant,
    /** When it breached (the deadline), if breached, met late or paused after its deadline. */
    breachedAt: nullableInstant,
    /**
     * Whole seconds to the deadline, negative once past (rounded down). Overdue freezes (SPEC §2):
     * it stops when the milestone settles (resolved, closed, cancelled, or an earlier cycle
     * before a reopen) and does not grow while the clock is paused. Null when met, not
     * applicable, or paused before its deadline.
     */
    remainingSeconds: z.number().int().nullable(),
    /** Working time paused before the deadline: what the deadline moved by (SPEC §2). */
    pausedSeconds: z.number().int(),
    escalatesToTier: tier.nullable(),
  })
  .meta({ id: 'MilestoneView' });
export type MilestoneView = z.infer<typeof milestoneView>;

export const incidentSummary = z
  .object({
    id: z.string(),
    status: z.enum(INCIDENT_STATUSES),
    severity: severity.nullable(),
    title: z.string().nullable(),
    category: z.string().nullable(),
    customer: z.string().nullable(),
    site: z.string().nullable(),
    /** From the report (`after_sales` unless it said `installation`): seed §4.5.3.6. */
    serviceKind: z.enum(SERVICE_KINDS),
    assignee: z.string().nullable(),
    /** Effective tier: the greater of the lifecycle tier and every escalation reached. */
    tier,
    policy: z.object({ id: z.string(), version: z.number().int() }).nullable(),
    reportedAt: nullableInstant,
    resolvedAt: nullableInstant,
    closedAt: nullableInstant,
    cancelledAt: nullableInstant,
    reopenCount: z.number().int(),
    breached: z.boolean(),
    atRisk: z.boolean(),
    /** The earliest deadline among open milestones still ahead. */
    nextDueAt: nullableInstant,
    updatedAt: instantOut,
  })
  .meta({ id: 'IncidentSummary' });
export type IncidentSummary = z.infer<typeof incidentSummary>;

export const incidentList = z
  .object({
    items: z.array(incidentSummary),
    /** Matching incidents in total (all pages), as of the request. */
    total: z.number().int(),
    /** Pass as `cursor` for the next page; null on the last page. */
    nextCursor: z.string().nullable(),
    asOf: instantOut,
  })
  .meta({ id: 'IncidentList' });
export type IncidentList = z.infer<typeof incidentList>;

export const escalationView = z
  .object({
    fromTier: tier,
    toTier: tier,
    automatic: z.boolean(),
    reason: z.string(),
    milestone: z.string().nullable(),
    escalatedAt: instantOut,
  })
  .meta({ id: 'EscalationView' });

export const incidentDetail = incidentSummary
  .extend({
    reporter: z.string().nullable(),
    eventCount: z.number().int(),
    lastEventAt: nullableInstant,
    milestones: z.array(milestoneView),
    escalations: z.array(escalationView),
    asOf: instantOut,
  })
  .meta({ id: 'IncidentDetail' });
export type IncidentDetail = z.infer<typeof incidentDetail>;

export const timelineEntry = z
  .object({
    /** `lifecycle`: an incoming event (SPEC §3); `sla`: an event this service emitted (SPEC §4). */
    kind: z.enum(['lifecycle', 'sla']),
    /** Lifecycle: the event's `time`. SLA: when it was emitted. The timeline is in this order. */
    at: instantOut,
    type: z.string(),
    id: z.string(),
    source: z.string(),
    data: z.record(z.string(), z.unknown()),
    /** Lifecycle: when the projector recorded it. SLA: when it was written to the outbox. */
    recordedAt: instantOut,
    /** SLA only: the Kafka topic and when the relay published it (null while pending). */
    topic: z.string().nullable(),
    publishedAt: nullableInstant,
  })
  .meta({ id: 'TimelineEntry' });
export type TimelineEntry = z.infer<typeof timelineEntry>;

export const timeline = z
  .object({ incidentId: z.string(), entries: z.array(timelineEntry) })
  .meta({ id: 'Timeline' });

export const atRiskItem = z
  .object({
    incidentId: z.string(),
    title: z.string().nullable(),
    severity: severity.nullable(),
    site: z.string().nullable(),
    assignee: z.string().nullable(),
    tier,
    milestone: z.string(),
    cycle: z.number().int(),
    state: z.enum(MILESTONE_STATES),
    dueAt: instantOut,
    warnAt: z.array(instantOut),
    remainingSeconds: z.number().int(),
  })
  .meta({ id: 'AtRiskItem' });
export type AtRiskItem = z.infer<typeof atRiskItem>;

export const atRiskList = z
  .object({
    asOf: instantOut,
    horizonSeconds: z.number().int(),
    items: z.array(atRiskItem),
  })
  .meta({ id: 'AtRiskList' });

const count = z.number().int();
const pct = z.number().nullable();

export const milestoneStats = z
  .object({
    /** `all`: every severity together. */
    severity: z.enum([...SEVERITIES, 'all']),
    milestone: z.string(),
    /** Milestones (all cycles) of the incidents reported in the month, cancelled ones excluded. */
    count,
    metOnTime: count,
    /** Met late, or still unmet past the deadline. */
    breached: count,
    /** Still running (not met, deadline ahead or paused). */
    open: count,
    /** Settled by resolve/close/cancel before being met, without a breach. */
    notApplicable: count,
    /** metOnTime / (metOnTime + breached) × 100, one decimal; null when both are 0. */
    compliancePct: pct,
    /** Wall-clock seconds from the milestone's start to meeting it (met and met late). */
    medianSeconds: count.nullable(),
    p90Seconds: count.nullable(),
  })
  .meta({ id: 'MilestoneStats' });
export type MilestoneStats = z.infer<typeof milestoneStats>;

/**
 * §4.5.7.6 回访: follow-ups of the faults handled in the month (the `follow_up` milestones whose
 * clock started then: the incident was resolved or closed in the month), and the satisfaction
 * scores given in the month.
 */
export const followUpStats = z
  .object({
    /**
     * Follow-ups owed: followedUp + missed + pending (cancelled incidents, and cycles a reopen
     * ended before their limit, are left out).
     */
    due: count,
    /** Done, on time or late. */
    followedUp: count,
    /** Done within the policy's limit (default 72 h). */
    onTime: count,
    /** Not done and past the limit. */
    missed: count,
    /** Not done, limit still ahead. */
    pending: count,
    /** followedUp / (followedUp + missed) × 100, one decimal (goal 100); null when both are 0. */
    ratePct: pct,
    satisfaction: z.object({
      /** `incident.followed_up` events in the month carrying a score. */
      responses: count,
      /** Their mean score (1–5), two decimals; null without responses. */
      mean: z.number().nullable(),
    }),
  })
  .meta({ id: 'FollowUpStats' });
export type FollowUpStats = z.infer<typeof followUpStats>;

/** A sum in integer minor units of one ISO 4217 currency (never converted between currencies). */
export const moneyOut = z
  .object({ currency: z.string(), amount: z.number().int().describe('Integer minor units') })
  .meta({ id: 'MoneySum' });
const sums = z.array(moneyOut).describe('One entry per currency, by currency code');

const effortStats = z.object({
  /** 人次: people sent, summed over dispatches. */
  personTimes: count,
  /** personTimes / days of the month, two decimals (人次/天). */
  personTimesPerDay: z.number(),
  /** 人天: people × working days of each dispatch. */
  personDays: count,
  cost: sums,
});

/** The §4.5.3.6 rows for one scope (src/domain/costs.ts costStatistics). */
export const costStats = z
  .object({
    /** Row 1: installation and commissioning (安装调试), all work for installation incidents. */
    installation: effortStats,
    /** Row 2: after-sales dispatches (售后派人). */
    dispatch: effortStats,
    /** Row 3: after-sales material (售后材料费用). */
    material: sums,
    /** Row 4: after-sales transport (售后运输费用). */
    transport: sums,
    other: sums,
    /** Row 5: total after-sales cost, installation excluded (售后总费用). */
    totalAfterSales: sums,
  })
  .meta({ id: 'CostStatistics' });

/** What a customer's or a project's line holds besides its name (§4.5.3.6 row 6). */
const scopeStats = {
  /** null: incidents that name no customer. */
  customer: z.string().nullable(),
  /** Reported in the month, cancelled ones excluded. */
  incidents: count,
  /** Milestones of those incidents whose clock started: met on time, breached. */
  metOnTime: count,
  breached: count,
  compliancePct: pct,
  statistics: costStats,
};
export const customerStats = z.object(scopeStats).meta({ id: 'CustomerStatistics' });
/** A project is a customer's site (SPEC §3 `customer` and `site` of the report). */
export const projectStats = z
  .object({ ...scopeStats, site: z.string().nullable() })
  .meta({ id: 'ProjectStatistics' });
export type CostStats = z.infer<typeof costStats>;
export type CustomerStats = z.infer<typeof customerStats>;
export type ProjectStats = z.infer<typeof projectStats>;

export const monthlyReport = z
  .object({
    month: z.string(),
    timeZone: z.string(),
    /** The month as instants: [from, to). */
    from: instantOut,
    to: instantOut,
    generatedAt: instantOut,
    incidents: z.object({
      /** Reported in the month, cancelled ones excluded (false alarms count nowhere). */
      reported: count,
      bySeverity: z.object({ I: count, II: count, III: count, IV: count }),
      cancelled: count,
      /** Distinct incidents reopened in the month. */
      reopened: count,
    }),
    milestones: z.array(milestoneStats),
    escalations: z.array(z.object({ tier, total: count, automatic: count, manual: count })),
    /** §4.5.3.6 售后派人 人次: dispatch events, engineers sent (人次), arrivals on site. */
    field: z.object({ dispatches: count, dispatchedEngineers: count, onSiteVisits: count }),
    /**
     * Seed §4.5.3.6 monthly statistics: effort and costs by the event time of each line, for the
     * month overall, per customer, and per project (customer and site).
     */
    statistics: z.object({
      /** Days of the month (the divisor of personTimesPerDay). */
      days: count,
      overall: costStats,
      byCustomer: z.array(customerStats),
      byProject: z.array(projectStats),
    }),
    followUps: followUpStats,
    /** §4.5.8.4 inspections due in the month: met on time, breached, open; per site. */
    inspections: inspectionReportSection,
  })
  .meta({ id: 'MonthlyReport' });
export type MonthlyReport = z.infer<typeof monthlyReport>;

export const policySummary = z
  .object({
    id: z.string(),
    name: z.string().nullable(),
    latestVersion: z.number().int(),
    versions: z.array(z.number().int()),
    updatedAt: instantOut,
  })
  .meta({ id: 'PolicySummary' });
export const policyList = z.object({ items: z.array(policySummary) }).meta({ id: 'PolicyList' });

export const policyVersion = z
  .object({
    id: z.string(),
    version: z.number().int(),
    createdAt: instantOut,
    createdBy: z.string().nullable(),
    document: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'PolicyVersion' });
export type PolicyVersion = z.infer<typeof policyVersion>;
export const policyDetail = z
  .object({ id: z.string(), versions: z.array(policyVersion) })
  .meta({ id: 'PolicyDetail' });

/** The body of POST /v1/policies/{id}/versions: a policy document (src/contracts/policy.ts). */
export const policyVersionBody = z
  .record(z.string(), z.unknown())
  .describe(
    'A policy document (see policies/default-policy.json). `id` must match the path; `version` ' +
      'may be omitted (next version) or must be the next one; `effectiveFrom` may be omitted (now) ' +
      'and must not be in the past.',
  );

// ---------------------------------------------------------------------------------------------

export type Where = 'query parameter' | 'path parameter' | 'body field';

/** Parses request input with `schema`; a failure is a 400 naming every bad parameter. */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: Where,
): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const details = result.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: key, message: `unknown ${where}` }))
      : // A parameter is named whole (`severity`, not `severity.1`); body fields keep their path.
        [
          {
            path: where === 'body field' ? issue.path.join('.') : String(issue.path[0] ?? ''),
            message: issue.message,
          },
        ],
  );
  const message = details.map((d) => `${where} '${d.path}': ${d.message}`).join('; ');
  throw new ValidationError(`invalid ${message}`, details);
}

/** Whole seconds of `3600` or an ISO-8601 duration without years/months (`PT1H`, `P1D`). */
export function parseDurationSeconds(text: string): number | null {
  if (/^\d{1,9}$/.test(text)) return Number(text);
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return null;
  const [, w, d, h, min, s] = m.map((x) => Number(x ?? 0));
  return (((w! * 7 + d!) * 24 + h!) * 60 + min!) * 60 + s!;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
