import {
  completionRetractsBreach,
  decideInspectionFiring,
  DAY,
  inspectionStateAt,
  inspectionTimers,
  isInspectionTimerSubject,
  planInspections,
  type InspectionSchedule,
} from '../../../src/domain';

const at = (iso: string) => Date.parse(iso);

const schedule = (over: Partial<InspectionSchedule> = {}): InspectionSchedule => ({
  id: 'changge',
  timeZone: 'Asia/Shanghai',
  quarterly: true,
  from: '2026-11-30',
  until: '2027-09-30',
  dates: [],
  warnBeforeMs: 14 * DAY,
  ...over,
});

describe('planInspections (§4.5.8.4 quarterly, §4.5.7.4 before holidays)', () => {
  it('one inspection per quarter overlapping [from, until], due at the quarter end in the zone', () => {
    const plan = planInspections(schedule());
    expect(plan.map((o) => [o.inspectionId, new Date(o.dueAt).toISOString()])).toEqual([
      // 2027-01-01 00:00 in Shanghai is 16:00 UTC the day before.
      ['changge:2026-Q4', '2026-12-31T16:00:00.000Z'],
      ['changge:2027-Q1', '2027-03-31T16:00:00.000Z'],
      ['changge:2027-Q2', '2027-06-30T16:00:00.000Z'],
      ['changge:2027-Q3', '2027-09-30T16:00:00.000Z'],
    ]);
    expect(plan[0]).toMatchObject({ kind: 'quarterly', label: '2026-Q4' });
    expect(plan[0]!.warnAt).toBe(plan[0]!.dueAt - 14 * DAY);
  });

  it('a quarter touched by one day counts; another zone moves the deadline', () => {
    const plan = planInspections(
      schedule({ from: '2027-03-31', until: '2027-04-01', timeZone: 'Europe/Berlin' }),
    );
    expect(plan.map((o) => [o.label, new Date(o.dueAt).toISOString()])).toEqual([
      ['2027-Q1', '2027-03-31T22:00:00.000Z'], // CEST from March 28
      ['2027-Q2', '2027-06-30T22:00:00.000Z'],
    ]);
  });

  it('listed dates join the quarters in deadline order; no warning when the lead is 0', () => {
    const plan = planInspections(
      schedule({
        until: '2026-12-31',
        warnBeforeMs: 0,
        dates: [{ id: 'cny', dueAt: at('2027-02-10T00:00:00+08:00'), label: '春节' }],
      }),
    );
    expect(plan.map((o) => [o.inspectionId, o.kind, o.warnAt])).toEqual([
      ['changge:2026-Q4', 'quarterly', null],
      ['changge:cny', 'listed', null],
    ]);
  });

  it('not quarterly: only the listed dates', () => {
    const plan = planInspections(
      schedule({ quarterly: false, dates: [{ id: 'x', dueAt: 5 * DAY, label: 'event' }] }),
    );
    expect(plan).toEqual([
      {
        inspectionId: 'changge:x',
        kind: 'listed',
        label: 'event',
        dueAt: 5 * DAY,
        warnAt: DAY * -9,
      },
    ]);
  });
});

describe('inspectionTimers', () => {
  it('a warning and a breach, keyed by inspection, subject never an incident id', () => {
    const timers = inspectionTimers(
      { inspectionId: 'changge:cny', kind: 'listed', label: '春节', dueAt: 10 * DAY, warnAt: DAY },
      'P9D',
    );
    expect(timers).toEqual([
      {
        timerKey: 'inspection/changge:cny/warning',
        generation: DAY,
        subject: 'inspection/changge:cny',
        kind: 'warning',
        threshold: 'P9D',
        dueAt: DAY,
        deadline: 10 * DAY,
      },
      {
        timerKey: 'inspection/changge:cny/breach',
        generation: 10 * DAY,
        subject: 'inspection/changge:cny',
        kind: 'breach',
        threshold: null,
        dueAt: 10 * DAY,
        deadline: 10 * DAY,
      },
    ]);
    expect(isInspectionTimerSubject(timers[0]!.subject)).toBe(true);
    expect(isInspectionTimerSubject('INC-1')).toBe(false);
  });

  it('no warning timer without a warning instant', () => {
    const timers = inspectionTimers(
      { inspectionId: 'a:b', kind: 'listed', label: 'x', dueAt: 5, warnAt: null },
      'PT0S',
    );
    expect(timers.map((t) => t.kind)).toEqual(['breach']);
  });
});

describe('decideInspectionFiring (SPEC §4 firing rules, for inspections)', () => {
  const due = 1_000_000;
  const warning = { kind: 'warning' as const, deadline: due };
  const breach = { kind: 'breach' as const, deadline: due };
  it.each([
    ['warning ahead of the deadline', warning, { dueAt: due }, null, due - 1, { fire: true }],
    [
      'warning discovered past the deadline',
      warning,
      { dueAt: due },
      null,
      due,
      { fire: false, reason: 'deadline_passed' },
    ],
    ['breach at the deadline', breach, { dueAt: due }, null, due, { fire: true }],
    [
      'breach of a completed inspection',
      breach,
      { dueAt: due },
      due - 5,
      due,
      { fire: false, reason: 'inspection_done' },
    ],
    [
      'breach, completed late but before firing',
      breach,
      { dueAt: due },
      due + 1,
      due + 2,
      { fire: false, reason: 'inspection_done' },
    ],
    [
      'obligation gone',
      breach,
      undefined,
      null,
      due,
      { fire: false, reason: 'inspection_missing' },
    ],
    ['deadline moved', breach, { dueAt: due + 1 }, null, due, { fire: false, reason: 'replanned' }],
  ])('%s', (_name, timer, obligation, completedAt, now, expected) => {
    expect(decideInspectionFiring(timer, obligation, completedAt, now)).toEqual(expected);
  });
});

describe('inspectionStateAt', () => {
  const o = { dueAt: 100, warnAt: 80 };
  it.each([
    [null, 79, 'pending'],
    [null, 80, 'warned'],
    [null, 99, 'warned'],
    [null, 100, 'breached'],
    [100, 150, 'met'],
    [101, 150, 'met_late'],
    // A completion is known only from its (effective) time on.
    [90, 85, 'warned'],
  ] as const)('completed %p, at %p: %s', (completedAt, t, state) => {
    expect(inspectionStateAt(o, completedAt, t)).toBe(state);
  });
  it('no warning instant: pending until the deadline', () => {
    expect(inspectionStateAt({ dueAt: 100, warnAt: null }, null, 99)).toBe('pending');
  });
});

describe('completionRetractsBreach (SPEC §4 retraction)', () => {
  it('only a completion at or before the deadline', () => {
    expect(completionRetractsBreach(100, 100)).toBe(true);
    expect(completionRetractsBreach(101, 100)).toBe(false);
  });
});
