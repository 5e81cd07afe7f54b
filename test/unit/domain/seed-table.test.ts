// SPEC §2 seed table: every severity × milestone, exact due and warning times under the default
// policy (7×24, measured from the report, one warning at 80 % of the limit).
import { DEFAULT_POLICY, HOUR, MINUTE, type Severity } from '../../../src/domain';
import { T0, milestone, reported, run } from './fixtures';

const TABLE: Record<string, Record<Severity, number>> = {
  response: { I: 5, II: 5, III: 10, IV: 15 },
  dispatch: { I: 5, II: 5, III: 10, IV: 15 },
  arrival: { I: 10, II: 15, III: 20, IV: 20 },
  diagnosis: { I: 60, II: 60, III: 120, IV: 120 },
  solution: { I: 60, II: 60, III: 120, IV: 120 },
};
const SEVERITIES: Severity[] = ['I', 'II', 'III', 'IV'];

describe('default policy: seed table', () => {
  const cases = Object.entries(TABLE).flatMap(([m, limits]) =>
    SEVERITIES.map((s) => [m, s, limits[s]] as const),
  );

  test.each(cases)(
    '%s, severity %s: due %i min after the report, warning at 80 %%',
    (m, severity, limitMin) => {
      const v = milestone([reported(T0, severity)], T0, m);
      expect(v).toMatchObject({
        state: 'pending',
        cycle: 0,
        startAt: T0,
        dueAt: T0 + limitMin * MINUTE,
        warnAt: [T0 + limitMin * MINUTE * 0.8],
        remainingMs: limitMin * MINUTE,
        metAt: null,
        breachedAt: null,
        pausedMs: 0,
      });
    },
  );

  test.each(SEVERITIES)(
    'spare_parts, severity %s: starts 24 h after the report, due 2 h later',
    (severity) => {
      const before = milestone([reported(T0, severity)], T0, 'spare_parts');
      expect(before).toMatchObject({ state: 'pending', startAt: T0 + 24 * HOUR, dueAt: null });
      const after = milestone([reported(T0, severity)], T0 + 24 * HOUR, 'spare_parts');
      expect(after).toMatchObject({
        state: 'pending',
        startAt: T0 + 24 * HOUR,
        dueAt: T0 + 26 * HOUR,
        warnAt: [T0 + 24 * HOUR + 96 * MINUTE],
      });
    },
  );

  test.each(SEVERITIES)(
    'severity %s: timers for every milestone, spare_parts included',
    (severity) => {
      const { timers } = run([reported(T0, severity)], T0);
      expect(timers.map((t) => t.key).sort()).toEqual(
        ['response', 'dispatch', 'arrival', 'diagnosis', 'solution', 'spare_parts']
          .flatMap((m) => [`INC-1/${m}/0/breach`, `INC-1/${m}/0/warn:0`])
          .sort(),
      );
      const spare = timers.find((t) => t.key === 'INC-1/spare_parts/0/breach');
      expect(spare).toMatchObject({
        dueAt: T0 + 26 * HOUR,
        deadline: T0 + 26 * HOUR,
        generation: T0 + 26 * HOUR,
      });
    },
  );

  test('escalation tiers: response, dispatch, arrival → 2; diagnosis, solution, spare_parts → 3', () => {
    const tiers = Object.fromEntries(
      DEFAULT_POLICY.milestones.map((m) => [m.id, m.escalatesToTier]),
    );
    expect(tiers).toEqual({
      response: 2,
      dispatch: 2,
      arrival: 2,
      diagnosis: 3,
      solution: 3,
      spare_parts: 3,
    });
  });

  test('only diagnosis and solution pause and restart on reopen', () => {
    const pausable = DEFAULT_POLICY.milestones.filter((m) => m.pausable).map((m) => m.id);
    const restart = DEFAULT_POLICY.milestones.filter((m) => m.restartsOnReopen).map((m) => m.id);
    expect(pausable).toEqual(['diagnosis', 'solution']);
    expect(restart).toEqual(['diagnosis', 'solution']);
  });

  test('the incident view carries the report and the policy version', () => {
    const { incident } = run([reported(T0, 'II', { customer: 'ACME', category: 'network' })], T0);
    expect(incident).toEqual({
      incidentId: 'INC-1',
      status: 'open',
      severity: 'II',
      title: 'Core switch down',
      site: '长葛 data centre',
      category: 'network',
      customer: 'ACME',
      reporter: null,
      serviceKind: 'after_sales',
      assignee: null,
      tier: 1,
      policyId: 'default',
      policyVersion: 1,
      reportedAt: T0,
      reopenCount: 0,
      reopenedAt: [],
      paused: false,
      resolvedAt: null,
      closedAt: null,
      cancelledAt: null,
    });
  });
});
