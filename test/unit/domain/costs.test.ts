/**
 * Seed §4.5.3.6 statistics, the pure part: which line an event carries, which row it counts in,
 * and the sums of a month (hand-computed below).
 */
import {
  costLinesOf,
  costStatistics,
  reportCategory,
  type ClassifiedLine,
  type IncidentEvent,
} from '../../../src/domain';

const at = Date.parse('2026-11-10T02:00:00Z');
const e = (type: IncidentEvent['type'], data: Record<string, unknown>): IncidentEvent =>
  ({ id: `${type}-1`, source: '/t', type, incidentId: 'INC-1', at, data }) as IncidentEvent;

describe('costLinesOf', () => {
  const cny = (amount: number) => ({ amount, currency: 'CNY' });
  const cost = (kind: string, money: object) => ({ kind, persons: 0, personDays: 0, cost: money });

  it.each([
    ['a dispatch naming nobody sent one person', e('incident.dispatched', {}), 1, 1, null],
    ['the engineers named', e('incident.dispatched', { engineers: ['Wang', 'Zhao'] }), 2, 2, null],
    [
      'persons over the names, times days, with the travel cost',
      e('incident.dispatched', {
        engineers: ['Wang'],
        persons: 3,
        days: 2,
        travelCost: cny(90000),
      }),
      3,
      6,
      cny(90000),
    ],
  ])('dispatch: %s', (_, event, persons, personDays, money) => {
    expect(costLinesOf(event)).toEqual([{ kind: 'dispatch', persons, personDays, cost: money }]);
  });

  it("reads an arrival's travel cost as dispatch cost, parts as material and transport", () => {
    expect(costLinesOf(e('incident.arrived', { travelCost: cny(3550) }))).toEqual([
      cost('dispatch', cny(3550)),
    ]);
    expect(
      costLinesOf(
        e('incident.spare_parts_provided', { materialCost: cny(89900), transportCost: cny(1500) }),
      ),
    ).toEqual([cost('material', cny(89900)), cost('transport', cny(1500))]);
    expect(
      costLinesOf(
        e('incident.cost_recorded', { kind: 'other', amount: -500, currency: 'EUR', note: 'x' }),
      ),
    ).toEqual([cost('other', { amount: -500, currency: 'EUR' })]);
  });

  it('is empty for events without effort or cost', () => {
    expect(costLinesOf(e('incident.arrived', { engineer: 'Wang' }))).toEqual([]);
    expect(costLinesOf(e('incident.spare_parts_provided', { parts: ['PSU'] }))).toEqual([]);
    expect(costLinesOf(e('incident.acknowledged', {}))).toEqual([]);
  });
});

describe('reportCategory', () => {
  it.each([
    ['dispatch', 'after_sales', 'dispatch'],
    ['material', 'after_sales', 'material'],
    ['installation', 'after_sales', 'installation'],
    ['dispatch', 'installation', 'installation'],
    ['transport', 'installation', 'installation'],
    ['other', 'installation', 'installation'],
  ] as const)('%s on an %s incident counts as %s', (kind, serviceKind, row) => {
    expect(reportCategory(kind, serviceKind)).toBe(row);
  });
});

describe('costStatistics', () => {
  const line = (
    l: Partial<ClassifiedLine> & Pick<ClassifiedLine, 'kind'>,
    amount?: number,
    currency = 'CNY',
  ): ClassifiedLine => ({
    persons: 0,
    personDays: 0,
    serviceKind: 'after_sales',
    cost: amount === undefined ? null : { amount, currency },
    ...l,
  });

  it('sums a month by row and currency, installation apart and out of the total', () => {
    const lines = [
      // after-sales: 2 + 3 people sent (3 of them for 2 days), ¥1,200.00 travel
      line({ kind: 'dispatch', persons: 2, personDays: 2 }),
      line({ kind: 'dispatch', persons: 3, personDays: 6 }, 120000),
      line({ kind: 'transport' }, 35050),
      line({ kind: 'transport' }, 900, 'EUR'),
      line({ kind: 'material' }, 89900),
      line({ kind: 'other' }, -5000),
      // an after-sales incident with installation work recorded on it
      line({ kind: 'installation' }, 10000),
      // an installation incident: its people, travel and material are all installation
      line({ kind: 'dispatch', persons: 4, personDays: 12, serviceKind: 'installation' }, 400000),
      line({ kind: 'transport', serviceKind: 'installation' }, 20000),
      // not reported yet: after-sales by default
      line({ kind: 'dispatch', persons: 1, personDays: 1, serviceKind: null }),
    ];
    expect(costStatistics(lines, 30)).toEqual({
      installation: {
        personTimes: 4,
        personTimesPerDay: 0.13, // 4 / 30
        personDays: 12,
        cost: [{ currency: 'CNY', amount: 10000 + 400000 + 20000 }],
      },
      dispatch: {
        personTimes: 6,
        personTimesPerDay: 0.2, // 6 / 30
        personDays: 9,
        cost: [{ currency: 'CNY', amount: 120000 }],
      },
      material: [{ currency: 'CNY', amount: 89900 }],
      transport: [
        { currency: 'CNY', amount: 35050 },
        { currency: 'EUR', amount: 900 },
      ],
      other: [{ currency: 'CNY', amount: -5000 }],
      totalAfterSales: [
        { currency: 'CNY', amount: 120000 + 35050 + 89900 - 5000 },
        { currency: 'EUR', amount: 900 },
      ],
    });
  });

  it('is all zeros and no money for a month without lines', () => {
    const zero = { personTimes: 0, personTimesPerDay: 0, personDays: 0, cost: [] };
    expect(costStatistics([], 31)).toEqual({
      installation: zero,
      dispatch: zero,
      material: [],
      transport: [],
      other: [],
      totalAfterSales: [],
    });
  });
});
