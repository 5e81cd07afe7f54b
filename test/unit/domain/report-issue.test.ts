/**
 * When the monthly report is issued (src/domain/report-issue.ts): issue times in the report zone,
 * which months an issue covers (first start, catch-up after downtime), and which issued months an
 * issue re-checks for late events.
 */
import {
  addMonths,
  issueTime,
  latestIssuableMonth,
  monthsToIssue,
  monthsToRecheck,
  nextIssueTime,
  type IssueSchedule,
} from '../../../src/domain/report-issue';

const SHANGHAI: IssueSchedule = { zone: 'Asia/Shanghai', day: 1, hour: 1 };
const ms = (iso: string) => Date.parse(iso);
const DAY = 24 * 3600 * 1000;

test('months shift across year ends', () => {
  expect(addMonths('2026-12', 1)).toBe('2027-01');
  expect(addMonths('2026-01', -1)).toBe('2025-12');
  expect(addMonths('2026-03', -14)).toBe('2025-01');
  expect(() => addMonths('2026-13', 1)).toThrow(RangeError);
});

test.each([
  // month, schedule, issued at (local time of the zone)
  ['2026-01', SHANGHAI, '2026-02-01T01:00:00+08:00'],
  ['2026-12', SHANGHAI, '2027-01-01T01:00:00+08:00'],
  ['2026-01', { zone: 'Asia/Shanghai', day: 3, hour: 9 }, '2026-02-03T09:00:00+08:00'],
  // Berlin: March's report is issued in April, after the switch to summer time (UTC+2).
  ['2026-03', { zone: 'Europe/Berlin', day: 1, hour: 0 }, '2026-04-01T00:00:00+02:00'],
  ['2026-10', { zone: 'Europe/Berlin', day: 1, hour: 0 }, '2026-11-01T00:00:00+01:00'],
])('%s under %j is issued at %s', (month, schedule, at) => {
  expect(issueTime(month, schedule)).toBe(ms(at));
});

test('the latest issuable month changes exactly at the issue time, in the report zone', () => {
  const at = ms('2026-02-01T01:00:00+08:00'); // = 2026-01-31T17:00Z: still January in UTC
  expect(latestIssuableMonth(at - 1, SHANGHAI)).toBe('2025-12');
  expect(latestIssuableMonth(at, SHANGHAI)).toBe('2026-01');
  expect(latestIssuableMonth(ms('2026-02-28T23:59:59+08:00'), SHANGHAI)).toBe('2026-01');
  expect(nextIssueTime(at - 1, SHANGHAI)).toBe(at);
  expect(nextIssueTime(at, SHANGHAI)).toBe(ms('2026-03-01T01:00:00+08:00'));
});

test('first start issues only the latest closed month; later, every month missed, oldest first', () => {
  const now = ms('2026-05-10T12:00:00+08:00');
  expect(monthsToIssue(null, now, SHANGHAI)).toEqual(['2026-04']);
  expect(monthsToIssue('2026-04', now, SHANGHAI)).toEqual([]);
  expect(monthsToIssue('2026-01', now, SHANGHAI)).toEqual(['2026-02', '2026-03', '2026-04']);
  expect(monthsToIssue('2025-11', ms('2026-01-01T01:00:00+08:00'), SHANGHAI)).toEqual(['2025-12']);
});

test('an issue re-checks the months that could have received events since the previous one', () => {
  const end = (month: string) => ms(`${addMonths(month, 1)}-01T00:00:00+08:00`);
  const issued = ['2025-11', '2025-12', '2026-01'].map((month) => ({ month, to: end(month) }));
  const previous = ms('2026-02-01T01:00:00+08:00'); // January's issue
  // Events up to 30 days old: at January's issue December (ended 31 days + 1 h before) was closed.
  expect(monthsToRecheck(issued, previous, 30 * DAY)).toEqual(['2026-01']);
  expect(monthsToRecheck(issued, previous, 32 * DAY)).toEqual(['2025-12', '2026-01']);
  // Events at most a minute old: nothing can arrive for a month closed an hour ago.
  expect(monthsToRecheck(issued, previous, 60_000)).toEqual([]);
  // The first issue has nothing to correct.
  expect(monthsToRecheck(issued, null, 30 * DAY)).toEqual([]);
});
