/**
 * Effort and costs of after-sales service, for the monthly statistics of seed §4.5.3.6
 * (统计报表): installation and commissioning (person-times per day, and cost), after-sales
 * dispatches (售后派人, person-times per day, and cost), material cost, transport cost, and the
 * total after-sales cost with contractual installation guidance excluded.
 *
 * A lifecycle event carries lines of effort or cost (`costLinesOf`, one per kind); the projector
 * stores them as they come (table `incident_costs`), and the report classifies each with the
 * incident's service kind (`reportCategory`) when it sums a month (`costStatistics`). Amounts are
 * integer minor units of an ISO 4217 currency (fen for CNY), never floats; sums are per currency.
 */
import {
  COST_KINDS,
  type CostKind,
  type IncidentEvent,
  type Money,
  type ServiceKind,
} from './events';

export const DEFAULT_SERVICE_KIND: ServiceKind = 'after_sales';

/** The effort or cost one event carries. */
export interface CostLine {
  readonly kind: CostKind;
  /** People sent (人次); 0 for a pure cost. */
  readonly persons: number;
  /** persons × working days of the dispatch (人天); 0 for a pure cost. */
  readonly personDays: number;
  /** Null for effort without a cost. */
  readonly cost: Money | null;
}

/**
 * The lines an event carries (at most one per kind):
 * - `incident.dispatched`: the people sent (`persons`, else the engineers named, else one: a
 *   dispatch naming nobody still sent someone), × `days` (default 1), and `travelCost`, the cost
 *   of sending them: the dispatch row;
 * - `incident.arrived`: `travelCost`, the same kind of cost when it is known on arrival;
 * - `incident.spare_parts_provided`: `materialCost` (material) and `transportCost` (shipping);
 * - `incident.cost_recorded`: its kind and amount (a cost outside those events).
 */
export function costLinesOf(e: IncidentEvent): CostLine[] {
  switch (e.type) {
    case 'incident.dispatched': {
      const persons = e.data.persons ?? Math.max(1, e.data.engineers?.length ?? 0);
      const personDays = persons * (e.data.days ?? 1);
      return [{ kind: 'dispatch', persons, personDays, cost: e.data.travelCost ?? null }];
    }
    case 'incident.arrived':
      return costs([['dispatch', e.data.travelCost]]);
    case 'incident.spare_parts_provided':
      return costs([
        ['material', e.data.materialCost],
        ['transport', e.data.transportCost],
      ]);
    case 'incident.cost_recorded':
      return costs([[e.data.kind, { amount: e.data.amount, currency: e.data.currency }]]);
    default:
      return [];
  }
}

/** Lines of cost alone (no people) for the amounts given. */
function costs(items: [CostKind, Money | undefined][]): CostLine[] {
  const lines: CostLine[] = [];
  for (const [kind, cost] of items) {
    if (cost) lines.push({ kind, persons: 0, personDays: 0, cost });
  }
  return lines;
}

/**
 * The §4.5.3.6 row a line counts in. Everything done for an installation incident (people sent,
 * their travel, material) is installation and commissioning (row 1), which the after-sales total
 * excludes (row 5: 合同规定的指导安装调试费用除外). For an after-sales incident the line keeps
 * its kind; a cost recorded as `installation` on it is installation work too.
 */
export function reportCategory(kind: CostKind, serviceKind: ServiceKind): CostKind {
  return serviceKind === 'installation' ? 'installation' : kind;
}

/** People sent and what it cost, for installation or for after-sales dispatches. */
export interface EffortStatistics {
  /** 人次: people sent, summed over dispatches. */
  readonly personTimes: number;
  /** personTimes / days of the month, 2 decimals (人次/天). */
  readonly personTimesPerDay: number;
  /** 人天: people × working days of each dispatch. */
  readonly personDays: number;
  /** Per currency, ascending by currency code. */
  readonly cost: Money[];
}

/** The §4.5.3.6 rows for one scope (the month overall, one customer, one project). */
export interface CostStatistics {
  readonly installation: EffortStatistics;
  readonly dispatch: EffortStatistics;
  readonly material: Money[];
  readonly transport: Money[];
  readonly other: Money[];
  /** dispatch + material + transport + other, per currency: installation excluded (row 5). */
  readonly totalAfterSales: Money[];
}

/** A stored line with the service kind of its incident (null: not reported yet → default). */
export interface ClassifiedLine extends CostLine {
  readonly serviceKind: ServiceKind | null;
}

/**
 * Sums the lines of one scope and month of `daysInMonth` days. Lines count in the category
 * `reportCategory` gives them; amounts are summed per currency, never converted.
 */
export function costStatistics(
  lines: readonly ClassifiedLine[],
  daysInMonth: number,
): CostStatistics {
  const sums = new Map<
    CostKind,
    { persons: number; personDays: number; cost: Map<string, number> }
  >(COST_KINDS.map((k) => [k, { persons: 0, personDays: 0, cost: new Map() }]));
  const total = new Map<string, number>();
  for (const line of lines) {
    const category = reportCategory(line.kind, line.serviceKind ?? DEFAULT_SERVICE_KIND);
    const sum = sums.get(category)!;
    sum.persons += line.persons;
    sum.personDays += line.personDays;
    if (line.cost) {
      add(sum.cost, line.cost);
      if (category !== 'installation') add(total, line.cost);
    }
  }
  const effort = (kind: CostKind): EffortStatistics => {
    const s = sums.get(kind)!;
    return {
      personTimes: s.persons,
      personTimesPerDay: Math.round((100 * s.persons) / daysInMonth) / 100,
      personDays: s.personDays,
      cost: moneyList(s.cost),
    };
  };
  return {
    installation: effort('installation'),
    dispatch: effort('dispatch'),
    material: moneyList(sums.get('material')!.cost),
    transport: moneyList(sums.get('transport')!.cost),
    other: moneyList(sums.get('other')!.cost),
    totalAfterSales: moneyList(total),
  };
}

function add(sums: Map<string, number>, m: Money): void {
  sums.set(m.currency, (sums.get(m.currency) ?? 0) + m.amount);
}

function moneyList(sums: Map<string, number>): Money[] {
  return [...sums]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([currency, amount]) => ({ currency, amount }));
}
