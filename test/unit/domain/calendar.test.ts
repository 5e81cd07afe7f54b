// Calendars: 7×24 arithmetic; business hours in a zone with holidays, 调休 make-up days and DST.
import { DateTime } from 'luxon';
import {
  CALENDAR_24X7,
  DEFAULT_POLICY,
  DEFAULT_ZONE,
  HOUR,
  MINUTE,
  calendarFor,
  evaluate,
  type BusinessCalendarSpec,
  type Policy,
} from '../../../src/domain';
import { ev, stateOf } from './fixtures';

const hm = (h: number, m = 0) => h * 60 + m;
const at = (iso: string, zone: string) => {
  const dt = DateTime.fromISO(iso, { zone });
  if (!dt.isValid) throw new Error(iso);
  return dt.toMillis();
};
const iso = (ms: number, zone: string) =>
  DateTime.fromMillis(ms, { zone }).toFormat("yyyy-MM-dd'T'HH:mm ZZ");

describe('7×24', () => {
  const cal = calendarFor(CALENDAR_24X7);
  test('working time is elapsed time', () => {
    expect(cal.add(1_000, 5 * MINUTE)).toBe(1_000 + 5 * MINUTE);
    expect(cal.between(1_000, 1_000 + HOUR)).toBe(HOUR);
    expect(cal.between(5, 1)).toBe(0);
    expect(cal.add(7, 0)).toBe(7);
  });
});

describe('business calendar in Asia/Shanghai with 调休', () => {
  const zone = DEFAULT_ZONE;
  const workday = [
    { from: hm(9), to: hm(12) },
    { from: hm(13), to: hm(18) },
  ];
  // Example holiday plan in the shape of the State Council notice (国庆节: 1–7 Oct off;
  // Sunday 20 Sep and Saturday 10 Oct worked). Tests define their own dates; policies carry theirs.
  const spec: BusinessCalendarSpec = {
    kind: 'business',
    zone,
    weekly: { 1: workday, 2: workday, 3: workday, 4: workday, 5: workday },
    holidays: ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07'],
    makeUpDays: ['2026-09-20', '2026-10-10'],
    makeUpHours: workday,
  };
  const cal = calendarFor(spec);
  const sh = (s: string) => at(s, zone);

  test('compiled once per spec, also when the same calendar is read again as a new object', () => {
    expect(calendarFor(spec)).toBe(cal);
    expect(calendarFor(JSON.parse(JSON.stringify(spec)) as BusinessCalendarSpec)).toBe(cal);
  });

  test.each([
    ['2026-11-24T10:00', 2 * HOUR, '2026-11-24T12:00 +08:00', 'ends exactly at the lunch break'],
    ['2026-11-24T11:00', 2 * HOUR, '2026-11-24T14:00 +08:00', 'skips lunch'],
    ['2026-11-24T07:00', 30 * MINUTE, '2026-11-24T09:30 +08:00', 'starts at opening'],
    ['2026-11-27T17:00', 2 * HOUR, '2026-11-30T10:00 +08:00', 'Friday → Monday'],
    ['2026-11-28T10:00', HOUR, '2026-11-30T10:00 +08:00', 'an ordinary Saturday is not worked'],
    [
      '2026-09-30T17:00',
      2 * HOUR,
      '2026-10-08T10:00 +08:00',
      'National Day holidays and the weekend skipped',
    ],
    ['2026-10-09T17:00', 2 * HOUR, '2026-10-10T10:00 +08:00', 'make-up Saturday is worked'],
    ['2026-09-18T17:00', 2 * HOUR, '2026-09-20T10:00 +08:00', 'make-up Sunday is worked'],
    [
      '2026-11-24T09:00',
      16 * HOUR,
      '2026-11-25T18:00 +08:00',
      'two full days end at closing, not next opening',
    ],
  ])('add(%s, %d) = %s (%s)', (start, work, expected) => {
    expect(iso(cal.add(sh(start), work), zone)).toBe(expected);
  });

  test('between counts only working time', () => {
    expect(cal.between(sh('2026-11-24T08:00'), sh('2026-11-24T20:00'))).toBe(8 * HOUR);
    expect(cal.between(sh('2026-09-30T00:00'), sh('2026-10-11T00:00'))).toBe(8 * HOUR * 4); // 30 Sep, 8, 9, 10 Oct
    expect(cal.between(sh('2026-11-24T12:30'), sh('2026-11-24T12:45'))).toBe(0);
  });

  test('add and between agree over a year of starting points', () => {
    for (let t = sh('2026-01-01T00:00'); t < sh('2027-01-01T00:00'); t += 7 * HOUR + 13 * MINUTE) {
      for (const w of [MINUTE, 90 * MINUTE, 9 * HOUR, 40 * HOUR]) {
        const end = cal.add(t, w);
        expect(cal.between(t, end)).toBe(w);
        expect(cal.between(t, end - 1)).toBeLessThan(w);
      }
    }
  });

  test('an SLA on this calendar: diagnosis 1 h reported Friday evening is due Monday 09:30', () => {
    const policy: Policy = { ...DEFAULT_POLICY, id: 'biz', calendar: spec };
    const reportedAt = sh('2026-11-27T17:30');
    const events = [ev('incident.reported', reportedAt, { severity: 'I', title: 't' })];
    const d = evaluate(stateOf(events), policy, reportedAt).milestones.find(
      (m) => m.milestone === 'diagnosis',
    );
    expect(iso(d!.dueAt!, zone)).toBe('2026-11-30T09:30 +08:00');
    expect(d!.warnAt.map((w) => iso(w, zone))).toEqual(['2026-11-30T09:18 +08:00']);
  });

  test('a pause moves the deadline by the working time paused', () => {
    const policy: Policy = { ...DEFAULT_POLICY, id: 'biz', calendar: spec };
    const events = [
      ev('incident.reported', sh('2026-11-24T11:00'), { severity: 'I', title: 't' }),
      // 11:30–14:00 is 1.5 h of working time (lunch is not working time).
      ev('incident.paused', sh('2026-11-24T11:30'), { reason: 'x' }),
      ev('incident.resumed', sh('2026-11-24T14:00'), { reason: 'x' }),
    ];
    const d = evaluate(stateOf(events), policy, sh('2026-11-24T14:00')).milestones.find(
      (m) => m.milestone === 'diagnosis',
    );
    expect(d).toMatchObject({ pausedMs: 1.5 * HOUR });
    // Without the pause: 12:00. With it: 30 min used before the pause, 30 min left at 14:00.
    expect(iso(d!.dueAt!, zone)).toBe('2026-11-24T14:30 +08:00');
    expect(calendarFor(spec).add(sh('2026-11-24T11:00'), HOUR + 1.5 * HOUR)).toBe(d!.dueAt);
  });
});

describe('business calendar across DST (Europe/Berlin)', () => {
  const zone = 'Europe/Berlin';
  const office = [{ from: hm(9), to: hm(17) }];
  const cal = calendarFor({
    kind: 'business',
    zone,
    weekly: { 1: office, 2: office, 3: office, 4: office, 5: office },
    holidays: [],
    makeUpDays: [],
    makeUpHours: office,
  });
  const allDay = [{ from: 0, to: 1440 }];
  const always = calendarFor({
    kind: 'business',
    zone,
    weekly: { 1: allDay, 2: allDay, 3: allDay, 4: allDay, 5: allDay, 6: allDay, 7: allDay },
    holidays: [],
    makeUpDays: [],
    makeUpHours: allDay,
  });
  const nightShift = [{ from: hm(1), to: hm(4) }];
  const night = calendarFor({
    kind: 'business',
    zone,
    weekly: { 7: nightShift },
    holidays: [],
    makeUpDays: [],
    makeUpHours: [],
  });
  const be = (s: string) => at(s, zone);

  test('local office hours keep their local time when the offset changes', () => {
    // Spring forward on Sunday 29 March 2026: Friday 16:00 CET + 2 h → Monday 10:00 CEST.
    expect(new Date(cal.add(be('2026-03-27T16:00'), 2 * HOUR)).toISOString()).toBe(
      '2026-03-30T08:00:00.000Z',
    );
    // Fall back on Sunday 25 October 2026: Friday 16:00 CEST + 2 h → Monday 10:00 CET.
    expect(new Date(cal.add(be('2026-10-23T16:00'), 2 * HOUR)).toISOString()).toBe(
      '2026-10-26T09:00:00.000Z',
    );
  });

  test('a 00:00–24:00 day is 23 h in spring and 25 h in autumn', () => {
    expect(always.between(be('2026-03-29T00:00'), be('2026-03-30T00:00'))).toBe(23 * HOUR);
    expect(always.between(be('2026-10-25T00:00'), be('2026-10-26T00:00'))).toBe(25 * HOUR);
    expect(always.add(be('2026-03-28T12:00'), 24 * HOUR)).toBe(be('2026-03-29T13:00'));
  });

  test('hours spanning the gap count real time: 01:00–04:00 on the spring-forward night is 2 h', () => {
    expect(night.between(be('2026-03-29T00:00'), be('2026-03-30T00:00'))).toBe(2 * HOUR);
    expect(night.between(be('2026-10-25T00:00'), be('2026-10-26T00:00'))).toBe(4 * HOUR);
    expect(night.between(be('2026-03-22T00:00'), be('2026-03-23T00:00'))).toBe(3 * HOUR);
  });
});
