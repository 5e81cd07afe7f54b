/**
 * Table `issued_reports` (migration 0015): one frozen snapshot per issued month, insert-only.
 * Written by the report issuer (application/report-issue.ts, in the scheduler role) together with
 * its outbox row; read by it (what was issued, and the figures last issued for a month) and by the
 * read API (`GET /v1/reports/monthly/{month}/issued`). Scheduler-owned: never rebuilt.
 */
import type { ReportCorrection } from '../contracts/report-issue';
import type { MonthlyReport } from '../contracts/read';
import type { PoolClient } from '../infra/db';

type Db = Pick<PoolClient, 'query'>;

export interface IssuedReportRow {
  month: string;
  timeZone: string;
  issuedAt: Date;
  digest: string;
  report: MonthlyReport;
  corrections: ReportCorrection[];
}

/** pg_try_advisory_xact_lock key of the issuer ("sla-rprt" as ASCII bytes). */
const ISSUER_LOCK = '8317129459667858036';

/** One issuer at a time: true when this transaction holds the issuer lock (not waiting for it). */
export async function tryLockIssuer(client: Db): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    `SELECT pg_try_advisory_xact_lock(${ISSUER_LOCK}::bigint) AS locked`,
  );
  return rows[0]?.locked === true;
}

/** The latest issued month and when it was issued; null when nothing was issued yet. */
export async function lastIssued(client: Db): Promise<{ month: string; issuedAt: Date } | null> {
  const { rows } = await client.query<{ month: string; issued_at: Date }>(
    'SELECT month, issued_at FROM issued_reports ORDER BY month DESC LIMIT 1',
  );
  const row = rows[0];
  return row ? { month: row.month, issuedAt: row.issued_at } : null;
}

/** Every issued month with the zone it was issued in, oldest first. */
export async function issuedMonths(client: Db): Promise<{ month: string; timeZone: string }[]> {
  const { rows } = await client.query<{ month: string; time_zone: string }>(
    'SELECT month, time_zone FROM issued_reports ORDER BY month',
  );
  return rows.map((r) => ({ month: r.month, timeZone: r.time_zone }));
}

/** Inserts the snapshot; false when the month was issued already (the exactly-once guard). */
export async function insertIssuedReport(client: Db, r: IssuedReportRow): Promise<boolean> {
  const { rowCount } = await client.query(
    `INSERT INTO issued_reports (month, time_zone, issued_at, digest, report, corrections)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (month) DO NOTHING`,
    [
      r.month,
      r.timeZone,
      r.issuedAt,
      r.digest,
      JSON.stringify(r.report),
      JSON.stringify(r.corrections),
    ],
  );
  return rowCount === 1;
}

/** The figures last issued for `month`: its latest correction, or else its snapshot. */
export async function lastIssuedFigures(client: Db, month: string): Promise<MonthlyReport | null> {
  const { rows } = await client.query<{ report: MonthlyReport | null }>(
    `SELECT coalesce(
       (SELECT c->'report' FROM issued_reports r, json_array_elements(r.corrections) c
        WHERE c->>'month' = $1 ORDER BY r.month DESC LIMIT 1),
       (SELECT report FROM issued_reports WHERE month = $1)) AS report`,
    [month],
  );
  return rows[0]?.report ?? null;
}

/** The snapshot of `month`, or null when it was not issued. */
export async function issuedReport(client: Db, month: string): Promise<IssuedReportRow | null> {
  const { rows } = await client.query<{
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
  return row
    ? {
        month,
        timeZone: row.time_zone,
        issuedAt: row.issued_at,
        digest: row.digest,
        report: row.report,
        corrections: row.corrections,
      }
    : null;
}
