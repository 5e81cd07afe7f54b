/**
 * The issued monthly report (issue 15 item 3, SPEC §4 `sla.reports` and §5
 * `GET /v1/reports/monthly/{month}/issued`): the frozen snapshot served over HTTP and the
 * `report.monthly_issued` CloudEvent announcing it.
 *
 * Digests are `sha256:` + the hex SHA-256 of the report in RFC 8785 canonical JSON (keys sorted,
 * no whitespace; our numbers are integers and short decimals, which JSON.stringify already writes
 * canonically), so anyone holding the JSON can check it with any JCS library.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './events';
import { moneyOut, monthlyReport, type MonthlyReport } from './read';
import { deterministicId, SLA_EVENT_SOURCE } from './sla-events';

export const REPORT_ISSUED_TYPE = 'report.monthly_issued' as const;

const monthString = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM, e.g. 2026-11');
const digest = z
  .string()
  .regex(/^sha256:[0-9a-f]{64}$/)
  .describe('`sha256:` + hex SHA-256 of the report as RFC 8785 canonical JSON');
const instant = z.iso.datetime();

export const issuedMonthParams = z.strictObject({
  month: monthString.describe('YYYY-MM: the closed month'),
});

export const issuedReportQuery = z.strictObject({
  format: z
    .enum(['json', 'csv'])
    .optional()
    .describe('Overrides the Accept header (handy for links in a browser)'),
});

/** A month's figures issued again because they changed after its issue (late events). */
export const reportCorrection = z
  .object({
    month: monthString,
    /** The digest of the figures this correction replaces (the snapshot, or an earlier correction). */
    supersedes: digest,
    digest,
    report: monthlyReport,
  })
  .meta({ id: 'ReportCorrection' });
export type ReportCorrection = z.infer<typeof reportCorrection>;

export const issuedMonthlyReport = z
  .object({
    month: monthString,
    timeZone: z.string(),
    issuedAt: instant,
    /** Digest of `report` (corrections carry their own). */
    digest,
    /** Exactly as `GET /v1/reports/monthly` computed it at `issuedAt`; never changed after. */
    report: monthlyReport,
    /** Earlier months whose figures changed since they were last issued (late events). */
    corrections: z.array(reportCorrection),
  })
  .meta({ id: 'IssuedMonthlyReport' });
export type IssuedMonthlyReport = z.infer<typeof issuedMonthlyReport>;

export const reportSummary = z.object({
  incidentsReported: z.number().int(),
  /** Milestones of every severity and kind together. */
  milestones: z.object({
    count: z.number().int(),
    metOnTime: z.number().int(),
    breached: z.number().int(),
    compliancePct: z.number().nullable(),
  }),
  escalations: z.number().int(),
  /** §4.5.3.6 row 5: total after-sales cost (installation excluded), per currency. */
  totalAfterSalesCost: z.array(moneyOut),
  /** The months corrected by this issue, with the digest of their new figures. */
  corrections: z.array(z.object({ month: monthString, digest, supersedes: digest })),
});
export type ReportSummary = z.infer<typeof reportSummary>;

export const reportMonthlyIssuedSchema = z.object({
  specversion: z.literal('1.0'),
  /** Deterministic: one id per month, whoever issued it and however often the relay re-sends it. */
  id: z.uuid(),
  source: z.literal(SLA_EVENT_SOURCE),
  type: z.literal(REPORT_ISSUED_TYPE),
  /** The month, YYYY-MM; also the Kafka key. */
  subject: monthString,
  time: instant,
  datacontenttype: z.literal('application/json'),
  data: z.object({
    month: monthString,
    timeZone: z.string(),
    issuedAt: instant,
    digest,
    summary: reportSummary,
    /** Where the snapshot is served: REPORT_BASE_URL + the path, or the path alone. */
    href: z.string(),
  }),
});
export type ReportMonthlyIssued = z.infer<typeof reportMonthlyIssuedSchema>;

/** `sha256:<hex>` of the report's canonical JSON (keys sorted at every level, src/contracts/events.ts). */
export function reportDigest(report: MonthlyReport): string {
  return `sha256:${createHash('sha256').update(canonicalJson(report)).digest('hex')}`;
}

/** Same figures: equal but for when they were computed (`generatedAt`). */
export function sameFigures(a: MonthlyReport, b: MonthlyReport): boolean {
  return canonicalJson({ ...a, generatedAt: null }) === canonicalJson({ ...b, generatedAt: null });
}

export function issuedReportPath(month: string): string {
  return `/v1/reports/monthly/${month}/issued`;
}

export function buildReportIssued(
  issued: IssuedMonthlyReport,
  summary: ReportSummary,
  baseUrl: string | undefined,
): ReportMonthlyIssued {
  return {
    specversion: '1.0',
    id: deterministicId(REPORT_ISSUED_TYPE, issued.month),
    source: SLA_EVENT_SOURCE,
    type: REPORT_ISSUED_TYPE,
    subject: issued.month,
    time: issued.issuedAt,
    datacontenttype: 'application/json',
    data: {
      month: issued.month,
      timeZone: issued.timeZone,
      issuedAt: issued.issuedAt,
      digest: issued.digest,
      summary,
      href: `${baseUrl?.replace(/\/+$/, '') ?? ''}${issuedReportPath(issued.month)}`,
    },
  };
}
