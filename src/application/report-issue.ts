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
} from '../contracts/report-issue';
import type { MonthlyReport } from '../contracts/read';
import { monthsToIssue, monthsToRecheck, type IssueSchedule } from '../domain/report-issue';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import { insertOutboxRows } from '../outbox/store';
import { NotFoundError } from '../errors';
import { monthlyReport, monthRange } from './reports';

export interface ReportIssueSettings extends IssueSchedule {
  /** INGEST_MAX_EVENT_AGE_MS: how late an event about a closed month may still arrive. */
  maxEventAgeMs: number;
  /** KAFKA_TOPIC_REPORTS. */
  topic: string;
  /** REPORT_BASE_URL: prefix of the event's `href` (none: the path alone). */
  baseUrl?: string;
}

/** pg_try_advisory_xact_lock key of the issuer ("sla-rprt" as ASCII bytes). */
const ISSUER_LOCK = '8317129459667858036';

/**
 * Issues every month due at `now` (epoch ms), oldest first. Resolves with the snapshots it
 * issued, or null when another issuer holds the lock (try again later).
 */
export async function issueDueReports(
  pool: Pool,
  now: number,
  s: ReportIssueSettings,
): Promise<IssuedMonthlyReport[] | null> {
  return withTransaction(pool, async (client) => {
    const lock = await client.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_xact_lock(${ISSUER_LOCK}::bigint) AS locked`,
    );
    if (!lock.rows[0]?.locked) return null;
    const last = await client.query<{ month: string; issued_at: Date }>(
      'SELECT month, issued_at FROM issued_reports ORDER BY month DESC LIMIT 1',
    );
    let previousIssuedAt = last.rows[0]?.issued_at.getTime() ?? null;
    let months = monthsToIssue(last.rows[0]?.month ?? null, now, s);
    if (previousIssuedAt === null && !(await hasRecordsBefore(client, months, s.zone))) months = [];

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
      const inserted = await client.query(
        `INSERT INTO issued_reports (month, time_zone, issued_at, digest, report, corrections)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (month) DO NOTHING`,
        [
          month,
          s.zone,
          new Date(now),
          snapshot.digest,
          JSON.stringify(report),
          JSON.stringify(corrections),
        ],
      );
      if (inserted.rowCount === 0) continue;
      const event = buildReportIssued(snapshot, s.baseUrl);
      await insertOutboxRows(client, [
        { id: event.id, topic: s.topic, messageKey: month, type: event.type, payload: event },
      ]);
      issued.push(snapshot);
      previousIssuedAt = now;
    }
    return issued;
  });
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
  const { rowCount } = await client.query(
    'SELECT 1 FROM incidents WHERE reported_at < $1 LIMIT 1',
    [monthRange(month, zone).to],
  );
  return (rowCount ?? 0) > 0;
}

async function findCorrections(
  client: PoolClient,
  pool: Pool,
  previousIssuedAt: number,
  now: number,
  maxEventAgeMs: number,
): Promise<ReportCorrection[]> {
  const { rows } = await client.query<{ month: string; time_zone: string }>(
    'SELECT month, time_zone FROM issued_reports ORDER BY month',
  );
  const zones = new Map(rows.map((r) => [r.month, r.time_zone]));
  const candidates = monthsToRecheck(
    rows.map((r) => ({ month: r.month, to: monthRange(r.month, r.time_zone).to.getTime() })),
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

/** The figures last issued for `month`: its latest correction, or else its snapshot. */
async function lastIssuedFigures(client: PoolClient, month: string): Promise<MonthlyReport | null> {
  const { rows } = await client.query<{ report: MonthlyReport | null }>(
    `SELECT coalesce(
       (SELECT c->'report' FROM issued_reports r, jsonb_array_elements(r.corrections) c
        WHERE c->>'month' = $1 ORDER BY r.month DESC LIMIT 1),
       (SELECT report FROM issued_reports WHERE month = $1)) AS report`,
    [month],
  );
  return rows[0]?.report ?? null;
}

/** The snapshot issued for `month` (YYYY-MM); NotFoundError when it was not issued (yet). */
export async function getIssuedReport(pool: Pool, month: string): Promise<IssuedMonthlyReport> {
  const { rows } = await pool.query<{
    time_zone: string;
    issued_at: Date;
    digest: string;
    report: MonthlyReport;
    corrections: ReportCorrection[];
  }>(
    'SELECT time_zone, issued_at, digest, report, corrections FROM issued_reports WHERE month = $1',
    [month],
  );
  const row = rows[0];
  if (!row) throw new NotFoundError(`the report for ${month} has not been issued`);
  return {
    month,
    timeZone: row.time_zone,
    issuedAt: row.issued_at.toISOString(),
    digest: row.digest,
    report: row.report,
    corrections: row.corrections,
  };
}
