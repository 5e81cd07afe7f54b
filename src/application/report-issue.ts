/**
 * Issuing the monthly report (issue 15 item 3): once a month has closed (src/domain/report-issue.ts
 * says when), the report `monthlyReport()` computes is frozen in `issued_reports`
 * (migrations/0015) and announced by a `report.monthly_issued` event on the reports topic
 * (KAFKA_TOPIC_REPORTS) through the outbox, in one transaction.
 *
 * Exactly once, across restarts and instances:
 * - `issued_reports.month` is the primary key and the event id is derived from the month alone,
 *   so an issuer that comes second (another instance, or this one after a restart) inserts
 *   nothing; snapshot and outbox row commit together or not at all.
 * - One issuer works at a time (a transaction-scoped advisory lock); the others find it taken and
 *   try again later, instead of computing a report only to find the month issued.
 * - A crash before COMMIT leaves nothing behind: the next check issues the month, with the
 *   figures as they are then.
 *
 * Late events never touch a snapshot. Each issue re-computes the earlier months that could have
 * received events since the previous issue (`monthsToRecheck`) and, where the figures differ from
 * the ones last issued for that month (its snapshot or a later correction), carries the new ones
 * as a correction.
 */
import {
  buildReportIssued,
  reportDigest,
  sameFigures,
  type IssuedMonthlyReport,
  type ReportCorrection,
  type ReportSummary,
} from '../contracts/report-issue';
import type { MonthlyReport } from '../contracts/read';
import { monthsToIssue, monthsToRecheck, type IssueSchedule } from '../domain/report-issue';
import { NotFoundError } from '../errors';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import { insertOutboxRows } from '../outbox/store';
import { incidentReportedBefore } from '../tables/incidents';
import {
  insertIssuedReport,
  issuedMonths,
  issuedReport,
  lastIssued,
  lastIssuedFigures,
  tryLockIssuer,
} from '../tables/issued-reports';
import { compliance, monthlyReport, monthRange } from './reports';

export interface ReportIssueSettings extends IssueSchedule {
  /** INGEST_MAX_EVENT_AGE_MS: how late an event about a closed month may still arrive. */
  maxEventAgeMs: number;
  /** KAFKA_TOPIC_REPORTS. */
  topic: string;
  /** REPORT_BASE_URL: prefix of the event's `href` (none: the path alone). */
  baseUrl?: string;
}

export interface IssueOutcome {
  /** The snapshots issued, oldest first. */
  issued: IssuedMonthlyReport[];
  /**
   * Nothing was ever issued and the latest closed month waits for records (an incident reported
   * before its end, e.g. imported history): worth checking again soon.
   */
  awaitingRecords: boolean;
}

/**
 * Issues every month due at `now` (epoch ms), oldest first. Resolves with what it issued, or
 * null when another issuer holds the lock (try again later).
 */
export async function issueDueReports(
  pool: Pool,
  now: number,
  s: ReportIssueSettings,
): Promise<IssueOutcome | null> {
  return withTransaction(pool, async (client) => {
    if (!(await tryLockIssuer(client))) return null;
    const last = await lastIssued(client);
    let previousIssuedAt = last?.issuedAt.getTime() ?? null;
    let months = monthsToIssue(last?.month ?? null, now, s);
    const awaitingRecords = last === null && !(await hasRecordsBefore(client, months, s.zone));
    if (awaitingRecords) months = [];

    const issued: IssuedMonthlyReport[] = [];
    for (const month of months) {
      const report = await monthlyReport(pool, month, s.zone, now);
      const corrections =
        previousIssuedAt === null
          ? []
          : await findCorrections(client, pool, previousIssuedAt, now, s.maxEventAgeMs);
      const snapshot: IssuedMonthlyReport = {
        month,
        timeZone: s.zone,
        issuedAt: new Date(now).toISOString(),
        digest: reportDigest(report),
        report,
        corrections,
      };
      if (!(await insertIssuedReport(client, { ...snapshot, issuedAt: new Date(now) }))) continue;
      const event = buildReportIssued(snapshot, summarize(report, corrections), s.baseUrl);
      await insertOutboxRows(client, [
        { id: event.id, topic: s.topic, messageKey: month, type: event.type, payload: event },
      ]);
      issued.push(snapshot);
      previousIssuedAt = now;
    }
    return { issued, awaitingRecords };
  });
}

/** The headline figures the event carries (the whole report is at its `href`). */
export function summarize(
  r: MonthlyReport,
  corrections: readonly ReportCorrection[],
): ReportSummary {
  // The `all` rows: every severity once (the per-severity rows would count each milestone twice).
  const all = r.milestones.filter((m) => m.severity === 'all');
  const sum = (f: (m: (typeof all)[number]) => number) => all.reduce((n, m) => n + f(m), 0);
  const metOnTime = sum((m) => m.metOnTime);
  const breached = sum((m) => m.breached);
  return {
    incidentsReported: r.incidents.reported,
    milestones: {
      count: sum((m) => m.count),
      metOnTime,
      breached,
      compliancePct: compliance(metOnTime, breached),
    },
    escalations: r.escalations.reduce((n, e) => n + e.total, 0),
    totalAfterSalesCost: r.statistics.overall.totalAfterSales,
    corrections: corrections.map(({ month, digest, supersedes }) => ({
      month,
      digest,
      supersedes,
    })),
  };
}

/**
 * No back-fill into the past before the service kept records: with nothing issued yet, the month
 * is issued only if some incident was reported before its end (a fresh installation does not
 * issue an empty report for the month before it started).
 */
async function hasRecordsBefore(
  client: PoolClient,
  months: readonly string[],
  zone: string,
): Promise<boolean> {
  const month = months[months.length - 1];
  if (month === undefined) return false;
  const { rowCount } = await client.query(incidentReportedBefore(monthRange(month, zone).to));
  return (rowCount ?? 0) > 0;
}

async function findCorrections(
  client: PoolClient,
  pool: Pool,
  previousIssuedAt: number,
  now: number,
  maxEventAgeMs: number,
): Promise<ReportCorrection[]> {
  const months = await issuedMonths(client);
  const zones = new Map(months.map((r) => [r.month, r.timeZone]));
  const candidates = monthsToRecheck(
    months.map((r) => ({ month: r.month, to: monthRange(r.month, r.timeZone).to.getTime() })),
    previousIssuedAt,
    maxEventAgeMs,
  );
  const corrections: ReportCorrection[] = [];
  for (const month of candidates) {
    const last = await lastIssuedFigures(client, month);
    const current = await monthlyReport(pool, month, zones.get(month)!, now);
    if (last === null || sameFigures(current, last)) continue;
    corrections.push({
      month,
      supersedes: reportDigest(last),
      digest: reportDigest(current),
      report: current,
    });
  }
  return corrections;
}

/** The snapshot issued for `month` (YYYY-MM); NotFoundError when it was not issued (yet). */
export async function getIssuedReport(pool: Pool, month: string): Promise<IssuedMonthlyReport> {
  const row = await issuedReport(pool, month);
  if (!row) throw new NotFoundError(`the report for ${month} has not been issued`);
  return { ...row, issuedAt: row.issuedAt.toISOString() };
}
