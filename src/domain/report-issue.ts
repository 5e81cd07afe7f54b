/**
 * When the monthly report is issued (issue 15 item 3; seed §4.5.3.6: the statistics reach the
 * management office before the 4th of the next month). Pure: instants are epoch ms in and out.
 *
 * - Month M is issued at `day` `hour`:00 (local, in `zone`) of the month after M, e.g. with the
 *   defaults (day 1, hour 1) the report for 2026-01 in Asia/Shanghai is due at
 *   2026-02-01T01:00+08:00. The hour after the close leaves stragglers time to arrive; later
 *   ones become corrections in the next issue (`monthsToRecheck`).
 * - Each closed month is issued once. A service that was down past one or more issue times
 *   issues every missed month, oldest first, once it is back. On first start (nothing issued yet)
 *   only the latest issuable month is issued: months before the service kept its records would be
 *   incomplete (decided for issue 15; README "Issued monthly reports").
 */
import { DateTime } from 'luxon';

export interface IssueSchedule {
  /** IANA zone the months are cut in (REPORT_TIME_ZONE). */
  zone: string;
  /** Day of the following month the report is issued on, 1–28 (REPORT_ISSUE_DAY). */
  day: number;
  /** Local hour of that day, 0–23 (REPORT_ISSUE_HOUR). */
  hour: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

function parseMonth(month: string): { year: number; month: number } {
  const m = MONTH.exec(month);
  if (!m) throw new RangeError(`not a month YYYY-MM: ${month}`);
  return { year: Number(m[1]), month: Number(m[2]) };
}

/** `month` shifted by `by` months (negative: earlier), YYYY-MM. */
export function addMonths(month: string, by: number): string {
  return DateTime.fromObject(parseMonth(month), { zone: 'UTC' })
    .plus({ months: by })
    .toFormat('yyyy-MM');
}

/** Epoch ms at which `month` is due to be issued under `s`. */
export function issueTime(month: string, s: IssueSchedule): number {
  const next = parseMonth(addMonths(month, 1));
  return DateTime.fromObject({ ...next, day: s.day, hour: s.hour }, { zone: s.zone }).toMillis();
}

/** The latest month whose issue time is at or before `now`. */
export function latestIssuableMonth(now: number, s: IssueSchedule): string {
  const current = DateTime.fromMillis(now, { zone: s.zone }).toFormat('yyyy-MM');
  const previous = addMonths(current, -1);
  return issueTime(previous, s) <= now ? previous : addMonths(current, -2);
}

/**
 * The months to issue at `now`, oldest first: every month after `lastIssued` up to the latest
 * issuable one; with nothing issued yet, only the latest issuable one (no back-fill).
 */
export function monthsToIssue(lastIssued: string | null, now: number, s: IssueSchedule): string[] {
  const latest = latestIssuableMonth(now, s);
  if (lastIssued === null) return [latest];
  const months: string[] = [];
  for (let m = addMonths(lastIssued, 1); m <= latest; m = addMonths(m, 1)) months.push(m);
  return months;
}

/** When the next issue after `now` is due (for the scheduler's wake-up). */
export function nextIssueTime(now: number, s: IssueSchedule): number {
  return issueTime(addMonths(latestIssuableMonth(now, s), 1), s);
}

/**
 * The issued months an issue at `now` checks for corrections: those that may have received events
 * since the previous issue (at `previousIssuedAt`). An event is accepted only while its `time` is
 * at most `maxEventAgeMs` old (INGEST_MAX_EVENT_AGE_MS), so an event about month X accepted after
 * the previous issue exists only if X ended less than `maxEventAgeMs` before that issue. Checking
 * these at every issue covers every late event exactly once, by induction over the issues.
 * `issued`: the month and its end (epoch ms, exclusive) in the zone it was issued in.
 */
export function monthsToRecheck(
  issued: readonly { month: string; to: number }[],
  previousIssuedAt: number | null,
  maxEventAgeMs: number,
): string[] {
  if (previousIssuedAt === null) return [];
  return issued
    .filter((x) => x.to > previousIssuedAt - maxEventAgeMs)
    .map((x) => x.month)
    .sort();
}
