// The JSON policy document (src/contracts/policy.ts) ↔ the domain Policy.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  PolicyValidationError,
  parsePolicy,
  parsePolicyOrThrow,
  policyToDocument,
} from '../../../src/contracts/policy';
import {
  DEFAULT_POLICY,
  HOUR,
  MINUTE,
  selectPolicy,
  evaluate,
  type Policy,
} from '../../../src/domain';
import { T0, reported, stateOf } from './fixtures';

/** The default document, loosely typed so that tests can break it field by field. */
interface Doc {
  [field: string]: unknown;
  milestones: Record<
    string,
    {
      [field: string]: unknown;
      limits: Record<string, unknown>;
      warnings: Record<string, unknown>[];
    }
  >;
}
const defaultDoc = (): Doc =>
  JSON.parse(readFileSync(join(__dirname, '../../../policies/default-policy.json'), 'utf8')) as Doc;

const errorsOf = (doc: unknown) => {
  const r = parsePolicy(doc);
  if (r.ok) throw new Error('expected the policy to be rejected');
  return r.errors;
};

describe('policy document', () => {
  test('policies/default-policy.json is exactly DEFAULT_POLICY (SPEC §2)', () => {
    expect(parsePolicyOrThrow(defaultDoc())).toEqual(DEFAULT_POLICY);
  });

  test('policyToDocument is the inverse of parsePolicy', () => {
    expect(
      parsePolicyOrThrow(JSON.parse(JSON.stringify(policyToDocument(DEFAULT_POLICY)))),
    ).toEqual(DEFAULT_POLICY);
  });

  test('a business calendar with holidays and make-up days round-trips; makeUpHours default to Monday', () => {
    const doc = {
      ...defaultDoc(),
      id: 'cn-office',
      calendar: {
        kind: 'business',
        zone: 'Asia/Shanghai',
        weekly: { mon: ['09:00-12:00', '13:00-18:00'], fri: ['09:00-17:00'] },
        holidays: ['2026-10-01'],
        makeUpDays: ['2026-10-10'],
      },
    };
    const p = parsePolicyOrThrow(doc);
    expect(p.calendar).toEqual({
      kind: 'business',
      zone: 'Asia/Shanghai',
      weekly: {
        1: [
          { from: 540, to: 720 },
          { from: 780, to: 1080 },
        ],
        5: [{ from: 540, to: 1020 }],
      },
      holidays: ['2026-10-01'],
      makeUpDays: ['2026-10-10'],
      makeUpHours: [
        { from: 540, to: 720 },
        { from: 780, to: 1080 },
      ],
    });
    expect(parsePolicyOrThrow(JSON.parse(JSON.stringify(policyToDocument(p))))).toEqual(p);
  });

  test('durations, lead-time warnings and start offsets', () => {
    const doc = defaultDoc();
    doc.milestones.solution!.warnings = [{ fraction: 0.5 }, { before: 'PT10M' }];
    doc.milestones.spare_parts!.startAfter = 'P1D';
    doc.milestones.arrival!.limits.IV = 'PT1H30M';
    const p = parsePolicyOrThrow(doc);
    const m = Object.fromEntries(p.milestones.map((x) => [x.id, x]));
    expect(m.solution?.warnings).toEqual([
      { kind: 'fraction', value: 0.5 },
      { kind: 'lead', ms: 10 * MINUTE },
    ]);
    expect(m.spare_parts?.startAfterMs).toBe(24 * HOUR);
    expect(m.arrival?.limits.IV).toBe(90 * MINUTE);
  });

  test('startsOn: report is the default and is not written out; resolution is (follow_up)', () => {
    const p = parsePolicyOrThrow(defaultDoc());
    const starts = Object.fromEntries(p.milestones.map((m) => [m.id, m.startsOn]));
    expect(starts).toMatchObject({ response: 'report', follow_up: 'resolution' });
    const written = policyToDocument(p).milestones;
    expect(written.response).not.toHaveProperty('startsOn');
    expect(written.follow_up).toMatchObject({
      startsOn: 'resolution',
      metBy: 'incident.followed_up',
    });
  });

  test.each([
    [
      'a missing severity limit',
      (d: Doc) => delete d.milestones.response!.limits.II,
      'milestones.response.limits.II',
    ],
    [
      'a limit that is not a duration',
      (d: Doc) => (d.milestones.arrival!.limits.I = '10 minutes'),
      'milestones.arrival.limits.I',
    ],
    [
      'a limit in months',
      (d: Doc) => (d.milestones.arrival!.limits.I = 'P1M'),
      'milestones.arrival.limits.I',
    ],
    [
      'a zero limit',
      (d: Doc) => (d.milestones.arrival!.limits.I = 'PT0S'),
      'milestones.arrival.limits.I',
    ],
    [
      'a warning fraction of 1',
      (d: Doc) => (d.milestones.dispatch!.warnings[0]!.fraction = 1),
      'milestones.dispatch.warnings.0.fraction',
    ],
    [
      'an unknown meeting event',
      (d: Doc) => (d.milestones.dispatch!.metBy = 'incident.closed'),
      'milestones.dispatch.metBy',
    ],
    [
      'tier 4',
      (d: Doc) => (d.milestones.solution!.escalatesToTier = 4),
      'milestones.solution.escalatesToTier',
    ],
    [
      'an unknown field',
      (d: Doc) => (d.milestones.solution!.pausible = true),
      'milestones.solution',
    ],
    [
      'an unknown clock start',
      (d: Doc) => (d.milestones.follow_up!.startsOn = 'closure'),
      'milestones.follow_up.startsOn',
    ],
    [
      'a milestone started by the resolution that would not restart on reopen',
      (d: Doc) => (d.milestones.follow_up!.restartsOnReopen = false),
      'milestones.follow_up.restartsOnReopen',
    ],
    [
      'a bad milestone id',
      (d: Doc) => (d.milestones['Bad Id'] = d.milestones.response!),
      'milestones.Bad Id',
    ],
    ['no milestones', (d: Doc) => (d.milestones = {}), 'milestones'],
    ['version 0', (d: Doc) => (d.version = 0), 'version'],
    [
      'an instant without offset',
      (d: Doc) => (d.effectiveFrom = '2026-01-01T00:00:00'),
      'effectiveFrom',
    ],
    [
      'an unknown zone',
      (d: Doc) =>
        (d.calendar = { kind: 'business', zone: 'Mars/Olympus', weekly: { mon: ['09:00-17:00'] } }),
      'calendar.zone',
    ],
    [
      'reversed hours',
      (d: Doc) =>
        (d.calendar = { kind: 'business', zone: 'UTC', weekly: { tue: ['18:00-09:00'] } }),
      'calendar.weekly.tue.0',
    ],
    [
      'overlapping hours',
      (d: Doc) =>
        (d.calendar = {
          kind: 'business',
          zone: 'UTC',
          weekly: { mon: ['09:00-12:00', '11:00-13:00'] },
        }),
      'calendar.weekly.mon.1',
    ],
    [
      'no working hours at all',
      (d: Doc) => (d.calendar = { kind: 'business', zone: 'UTC', weekly: {} }),
      'calendar.weekly',
    ],
    [
      'a holiday that is not a date',
      (d: Doc) =>
        (d.calendar = {
          kind: 'business',
          zone: 'UTC',
          weekly: { mon: ['09:00-17:00'] },
          holidays: ['2026-02-30'],
        }),
      'calendar.holidays.0',
    ],
    [
      'a make-up day that is also a holiday',
      (d: Doc) =>
        (d.calendar = {
          kind: 'business',
          zone: 'UTC',
          weekly: { mon: ['09:00-17:00'] },
          holidays: ['2026-10-10'],
          makeUpDays: ['2026-10-10'],
        }),
      'calendar.makeUpDays.0',
    ],
  ])('rejects %s with the path of the bad field', (_name, mutate, path) => {
    const doc = defaultDoc();
    mutate(doc);
    expect(errorsOf(doc).map((e) => e.path)).toContain(path);
  });

  test('no duration beyond P366D: a deadline must stay a timestamp (a tester stalled the projector with P99999999999999D)', () => {
    const doc = defaultDoc();
    doc.milestones.response!.limits.I = 'P99999999999999D';
    doc.milestones.arrival!.limits.IV = 'P367D';
    doc.milestones.spare_parts!.startAfter = 'P400D';
    doc.milestones.solution!.warnings = [{ before: 'P400D' }];
    const errors = errorsOf(doc);
    expect(errors.filter((e) => e.message === 'must be at most P366D').map((e) => e.path)).toEqual([
      'milestones.response.limits.I',
      'milestones.arrival.limits.IV',
      'milestones.spare_parts.startAfter',
    ]);
    // A warning is one of two shapes: the union names the element, not the branch's field.
    expect(errors.map((e) => e.path)).toContain('milestones.solution.warnings.0');
    doc.milestones.response!.limits.I = 'P366D';
    doc.milestones.arrival!.limits.IV = 'PT8784H';
    doc.milestones.solution!.warnings = [{ before: 'PT8784H' }];
    doc.milestones.spare_parts!.startAfter = 'P1D';
    expect(parsePolicy(doc).ok).toBe(true);
  });

  describe('holidays must leave working time in every year and a day', () => {
    const withHolidays = (holidays: string[], makeUpDays: string[] = []) => ({
      ...defaultDoc(),
      calendar: {
        kind: 'business',
        zone: 'Asia/Shanghai',
        weekly: { mon: ['09:00-17:00'] },
        holidays,
        makeUpDays,
      },
    });
    /** Every 7th day from `from` for `weeks` weeks (Mondays: 2026-01-05, 2199-01-07). */
    const mondays = (from: string, weeks: number) =>
      Array.from({ length: weeks }, (_, i) =>
        new Date(Date.parse(`${from}T00:00:00Z`) + i * 7 * 86_400_000).toISOString().slice(0, 10),
      );

    test('every Monday a holiday for 53 weeks: 378 days off, refused, naming them', () => {
      expect(errorsOf(withHolidays(mondays('2026-01-05', 53)))).toEqual([
        {
          path: 'calendar.holidays',
          message:
            'the holidays leave no working day from 2025-12-29 to 2027-01-11 (378 days; at most 366)',
        },
      ]);
    });

    test('52 Mondays off (371 days) is refused; 51 (364 days) passes; a make-up day in between breaks the run', () => {
      expect(errorsOf(withHolidays(mondays('2026-01-05', 52)))[0]!.message).toContain('371 days');
      expect(parsePolicy(withHolidays(mondays('2026-01-05', 51))).ok).toBe(true);
      expect(parsePolicy(withHolidays(mondays('2026-01-05', 60), ['2026-07-01'])).ok).toBe(true);
    });

    test('holidays decades apart are checked without walking every day between', () => {
      const far = [...mondays('2026-01-05', 3), ...mondays('2199-01-07', 53)];
      expect(errorsOf(withHolidays(far))[0]!.message).toMatch(
        /^the holidays leave no working day from 2198-/,
      );
    });
  });

  test('parsePolicyOrThrow names every bad path', () => {
    const doc = defaultDoc();
    doc.version = -1;
    doc.milestones.response!.limits.I = 'soon';
    expect(() => parsePolicyOrThrow(doc)).toThrow(PolicyValidationError);
    expect(() => parsePolicyOrThrow(doc)).toThrow(/version: .*milestones\.response\.limits\.I: /);
  });
});

describe('policy versions', () => {
  const v2: Policy = {
    ...DEFAULT_POLICY,
    version: 2,
    effectiveFrom: T0 + HOUR,
    name: 'v2',
    milestones: DEFAULT_POLICY.milestones.map((m) => ({
      ...m,
      limits: { I: HOUR, II: HOUR, III: HOUR, IV: HOUR },
    })),
  };
  const other: Policy = { ...DEFAULT_POLICY, id: 'gold', version: 1 };

  test('an incident keeps the version in force when it was reported', () => {
    expect(selectPolicy([DEFAULT_POLICY, v2], undefined, T0)).toBe(DEFAULT_POLICY);
    expect(selectPolicy([DEFAULT_POLICY, v2], undefined, T0 + HOUR)).toBe(v2);
    const early = evaluate(stateOf([reported(T0)]), [v2, DEFAULT_POLICY], T0 + 2 * HOUR);
    expect(early.incident).toMatchObject({ policyId: 'default', policyVersion: 1 });
    const late = evaluate(stateOf([reported(T0 + HOUR)]), [v2, DEFAULT_POLICY], T0 + 2 * HOUR);
    expect(late.incident).toMatchObject({ policyVersion: 2 });
  });

  test('the report names the policy; an unknown one falls back to the default policy', () => {
    const gold = evaluate(
      stateOf([reported(T0, 'I', { policyId: 'gold' })]),
      [DEFAULT_POLICY, other],
      T0,
    );
    expect(gold.incident?.policyId).toBe('gold');
    const unknown = evaluate(stateOf([reported(T0, 'I', { policyId: 'nope' })]), [other], T0);
    expect(unknown.incident).toMatchObject({ policyId: 'default', policyVersion: 1 });
  });
});
