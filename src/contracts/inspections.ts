/**
 * Inspection schedules and obligations over HTTP (issue 15 item 5; seed §4.5.8.4 / §4.5.7.4):
 * the admin's request that creates a schedule, and the read side's answers. The outgoing
 * warning / breach events are in ./sla-events.ts (same types and topics as milestones).
 */
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { DEFAULT_INSPECTION_WARN_BEFORE } from '../domain';
import { eventTimeSchema, identifier, instantParam, line, LIMITS, tierSchema } from './events';
import { duration, localDate } from './policy';

/** Longest schedule: ten years of quarters (40 obligations). */
export const MAX_SCHEDULE_YEARS = 10;

const zone = z
  .string()
  .refine((tz) => IANAZone.isValidZone(tz), 'must be an IANA time zone, e.g. Asia/Shanghai');

export const inspectionScheduleBody = z
  .strictObject({
    id: identifier(64)
      .optional()
      .describe('Schedule id (default: a new UUID); inspection ids start with it'),
    site: line(LIMITS.nameLength).optional().describe('The site inspected'),
    customer: line(LIMITS.nameLength)
      .optional()
      .describe('The customer (alone: a customer-wide schedule)'),
    timeZone: zone
      .optional()
      .describe('Zone of quarters and plain dates (default REPORT_TIME_ZONE)'),
    quarterly: z
      .boolean()
      .default(true)
      .describe('One inspection per calendar quarter, due by its end (§4.5.8.4)'),
    from: localDate
      .optional()
      .describe('First day covered (default: today); quarters overlapping [from, until] count'),
    until: localDate
      .optional()
      .describe('Last day covered (default: the end of the fourth quarter from `from`)'),
    dates: z
      .array(
        z.strictObject({
          id: identifier(60)
            .optional()
            .describe('Unique in the schedule (default: the local date of dueAt)'),
          dueAt: eventTimeSchema.describe('Deadline: before the holiday or event'),
          label: line(LIMITS.nameLength).describe('The holiday or event, e.g. 春节'),
        }),
      )
      .max(LIMITS.listItems, `must have at most ${LIMITS.listItems} items`)
      .default([])
      .describe('Inspections ahead of listed holidays or events (§4.5.7.4)'),
    warnBefore: z
      .string()
      .default(DEFAULT_INSPECTION_WARN_BEFORE)
      .refine((s) => duration({ allowZero: true }).safeParse(s).success, {
        error: 'must be an ISO-8601 duration without years or months, e.g. P14D or PT30M',
      })
      .describe('Lead time of the warning before each deadline (PT0S: none)'),
    escalatesToTier: tierSchema.default(2).describe('Tier paged when an inspection is overdue'),
  })
  .superRefine((b, ctx) => {
    if (b.site === undefined && b.customer === undefined) {
      ctx.addIssue({ code: 'custom', path: ['site'], message: 'give a site or a customer' });
    }
    if (b.from !== undefined && b.until !== undefined && b.until < b.from) {
      ctx.addIssue({ code: 'custom', path: ['until'], message: 'must not be before from' });
    }
    if (!b.quarterly && b.dates.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['dates'],
        message: 'a schedule that is not quarterly must list dates',
      });
    }
  })
  .meta({ id: 'InspectionScheduleRequest' });
export type InspectionScheduleBody = z.output<typeof inspectionScheduleBody>;

const instantOut = z.iso.datetime();

export const INSPECTION_STATES = ['pending', 'warned', 'breached', 'met', 'met_late'] as const;

export const inspectionView = z
  .object({
    inspectionId: z.string().describe('What inspection.completed names'),
    scheduleId: z.string(),
    kind: z.enum(['quarterly', 'listed']),
    label: z.string(),
    site: z.string().nullable(),
    customer: z.string().nullable(),
    dueAt: instantOut,
    warnAt: instantOut.nullable(),
    state: z
      .enum(INSPECTION_STATES)
      .describe('At the request time; met / met_late once completed by / after dueAt'),
    remainingSeconds: z
      .number()
      .int()
      .nullable()
      .describe('Until dueAt (negative: overdue); null once completed'),
    completedAt: instantOut.nullable(),
    reportRef: z.string().nullable(),
  })
  .meta({ id: 'Inspection' });
export type InspectionView = z.infer<typeof inspectionView>;

export const inspectionSchedule = z
  .object({
    id: z.string(),
    site: z.string().nullable(),
    customer: z.string().nullable(),
    timeZone: z.string(),
    quarterly: z.boolean(),
    from: z.string(),
    until: z.string(),
    warnBefore: z.string(),
    escalatesToTier: z.number().int(),
    createdAt: instantOut,
    createdBy: z.string().nullable(),
    inspections: z.array(inspectionView),
  })
  .meta({ id: 'InspectionSchedule' });
export type InspectionScheduleView = z.infer<typeof inspectionSchedule>;

export const scheduleIdParams = z.strictObject({ id: identifier(64) });

/** GET /v1/inspection-schedules: the schedules, by id, a page at a time. */
export const schedulesQuery = z.strictObject({
  site: line(200).optional().describe('Only the schedules of this site'),
  customer: line(200).optional().describe('Only the schedules of this customer'),
  after: identifier(64).optional().describe("The previous page's `next`: ids after this one"),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
export type SchedulesQuery = z.output<typeof schedulesQuery>;

export const inspectionScheduleSummary = inspectionSchedule
  .omit({ inspections: true })
  .meta({ id: 'InspectionScheduleSummary' });
export type InspectionScheduleSummary = z.infer<typeof inspectionScheduleSummary>;

export const inspectionScheduleList = z
  .object({
    items: z.array(inspectionScheduleSummary),
    /** Pass as `after` for the next page; null on the last page. */
    next: z.string().nullable(),
  })
  .meta({ id: 'InspectionScheduleList' });

export const inspectionsQuery = z.strictObject({
  site: line(200).optional(),
  customer: line(200).optional(),
  scheduleId: identifier(64).optional(),
  status: z
    .enum(['due', 'done', 'all'])
    .default('all')
    .describe('due: not completed yet; done: completed'),
  dueFrom: instantParam.optional().describe('dueAt ≥ this'),
  dueBefore: instantParam.optional().describe('dueAt < this'),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
export type InspectionsQuery = z.output<typeof inspectionsQuery>;

export const inspectionList = z
  .object({ asOf: instantOut, items: z.array(inspectionView) })
  .meta({ id: 'InspectionList' });

const count = z.number().int().min(0);
const inspectionCounts = {
  /** Inspections due in the month. */
  due: count,
  metOnTime: count,
  /** Unmet past the deadline, or completed after it (a breach too). */
  breached: count,
  metLate: count,
  /** Not completed, deadline still ahead. */
  open: count,
  compliancePct: z.number().nullable(),
};

/** The monthly report's inspection section (§4.5.8.4): inspections due in the month. */
export const inspectionReportSection = z.object({
  ...inspectionCounts,
  bySite: z.array(
    z.object({ site: z.string().nullable(), customer: z.string().nullable(), ...inspectionCounts }),
  ),
});
export type InspectionReportSection = z.infer<typeof inspectionReportSection>;
