import { monthRange, reportToCsv } from '../../../src/application/reports';
import type { CostStats, MonthlyReport } from '../../../src/contracts/read';
import { csvSection } from '../../helpers/csv';

describe('monthRange', () => {
  it('is the month in the given zone, as instants', () => {
    const { from, to } = monthRange('2026-11', 'Asia/Shanghai');
    expect(from.toISOString()).toBe('2026-10-31T16:00:00.000Z');
    expect(to.toISOString()).toBe('2026-11-30T16:00:00.000Z');
  });

  it('spans a DST change with its real length (Berlin, March: 31 days minus one hour)', () => {
    const { from, to } = monthRange('2026-03', 'Europe/Berlin');
    expect(from.toISOString()).toBe('2026-02-28T23:00:00.000Z');
    expect(to.toISOString()).toBe('2026-03-31T22:00:00.000Z');
    expect(to.getTime() - from.getTime()).toBe((31 * 24 - 1) * 3600_000);
  });

  it('wraps December into the next year', () => {
    expect(monthRange('2026-12', 'UTC').to.toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });
});

describe('reportToCsv', () => {
  const effort = { personTimes: 0, personTimesPerDay: 0, personDays: 0, cost: [] };
  const costs: CostStats = {
    installation: effort,
    dispatch: {
      personTimes: 5,
      personTimesPerDay: 0.17,
      personDays: 7,
      cost: [{ currency: 'CNY', amount: 120000 }],
    },
    material: [],
    transport: [
      { currency: 'CNY', amount: 35050 },
      { currency: 'EUR', amount: 900 },
    ],
    other: [],
    totalAfterSales: [
      { currency: 'CNY', amount: 155050 },
      { currency: 'EUR', amount: 900 },
    ],
  };
  const report: MonthlyReport = {
    month: '2026-11',
    timeZone: 'Asia/Shanghai',
    from: '2026-10-31T16:00:00.000Z',
    to: '2026-11-30T16:00:00.000Z',
    generatedAt: '2026-12-01T00:00:00.000Z',
    incidents: {
      reported: 3,
      bySeverity: { I: 1, II: 2, III: 0, IV: 0 },
      cancelled: 1,
      reopened: 1,
    },
    milestones: [
      {
        severity: 'I',
        milestone: 'response',
        count: 4,
        metOnTime: 3,
        breached: 1,
        open: 0,
        notApplicable: 0,
        compliancePct: 75,
        medianSeconds: 120,
        p90Seconds: 290,
      },
      {
        severity: 'all',
        milestone: 'spare_parts',
        count: 2,
        metOnTime: 0,
        breached: 0,
        open: 0,
        notApplicable: 2,
        compliancePct: null,
        medianSeconds: null,
        p90Seconds: null,
      },
    ],
    escalations: [{ tier: 2, total: 3, automatic: 2, manual: 1 }],
    field: { dispatches: 2, dispatchedEngineers: 5, onSiteVisits: 4 },
    statistics: {
      days: 30,
      overall: costs,
      byCustomer: [
        {
          customer: 'Acme, Inc.',
          incidents: 2,
          metOnTime: 7,
          breached: 1,
          compliancePct: 87.5,
          statistics: costs,
        },
      ],
      byProject: [
        {
          customer: null,
          site: 'HQ',
          incidents: 1,
          metOnTime: 0,
          breached: 0,
          compliancePct: null,
          statistics: costs,
        },
      ],
    },
    followUps: {
      due: 4,
      followedUp: 2,
      onTime: 1,
      missed: 1,
      pending: 1,
      ratePct: 66.7,
      satisfaction: { responses: 3, mean: 4.33 },
    },
    inspections: {
      due: 3,
      metOnTime: 1,
      breached: 1,
      metLate: 0,
      open: 1,
      compliancePct: 50,
      bySite: [
        {
          site: 'HQ',
          customer: 'Acme',
          due: 3,
          metOnTime: 1,
          breached: 1,
          metLate: 0,
          open: 1,
          compliancePct: 50,
        },
      ],
    },
  };

  it('is one rectangular table, CRLF, empty cells where a column does not apply', () => {
    const lines = reportToCsv(report).split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(
      'section,severity,milestone,tier,count,met_on_time,breached,open,not_applicable,compliance_pct,median_seconds,p90_seconds,' +
        'scope,customer,site,per_day,currency,amount_minor,value',
    );
    const empty7 = ',,,,,,,';
    expect(lines[1]).toBe(`milestone,I,response,,4,3,1,0,0,75,120,290${empty7}`);
    expect(lines[2]).toBe(`milestone,all,spare_parts,,2,0,0,0,2,,,${empty7}`);
    expect(lines).toContain(`escalations,,,2,3,,,,,,,${empty7}`);
    expect(lines).toContain(`escalations_automatic,,,2,2,,,,,,,${empty7}`);
    expect(lines).toContain(`incidents_reported,II,,,2,,,,,,,${empty7}`);
    expect(lines).toContain(`dispatched_engineers,,,,5,,,,,,,${empty7}`);
    expect(lines).toContain(`on_site_visits,,,,4,,,,,,,${empty7}`);
    // Every row has the header's 19 cells (a quoted comma is not a separator).
    const cells = (l: string) => l.replace(/"[^"]*"/g, 'q').split(',').length;
    expect(new Set(lines.slice(0, -1).map(cells))).toEqual(new Set([19]));
  });

  it('writes the §4.5.3.6 rows overall, per customer and per project, money per currency', () => {
    const lines = reportToCsv(report).split('\r\n');
    const of = (section: string, scope: string) =>
      lines.filter((l) => l.startsWith(`${section},`) && l.split(',')[12] === scope);
    expect(of('installation_person_times', 'overall')).toEqual([
      'installation_person_times,,,,0,,,,,,,,overall,,,0,,,',
    ]);
    expect(of('dispatch_person_times', 'overall')).toEqual([
      'dispatch_person_times,,,,5,,,,,,,,overall,,,0.17,,,',
    ]);
    expect(of('dispatch_person_days', 'overall')).toEqual([
      'dispatch_person_days,,,,7,,,,,,,,overall,,,,,,',
    ]);
    expect(of('dispatch_cost', 'overall')).toEqual([
      'dispatch_cost,,,,,,,,,,,,overall,,,,CNY,120000,',
    ]);
    expect(of('installation_cost', 'overall')).toEqual([]);
    expect(of('total_after_sales_cost', 'overall')).toEqual([
      'total_after_sales_cost,,,,,,,,,,,,overall,,,,CNY,155050,',
      'total_after_sales_cost,,,,,,,,,,,,overall,,,,EUR,900,',
    ]);
    expect(lines).toContain('summary,,,,2,7,1,,,87.5,,,customer,"Acme, Inc.",,,,,');
    expect(lines).toContain('transport_cost,,,,,,,,,,,,customer,"Acme, Inc.",,,EUR,900,');
    expect(lines).toContain('summary,,,,1,0,0,,,,,,project,,HQ,,,,');
    expect(lines).toContain('days_in_month,,,,30,,,,,,,,,,,,,,');
    // No material anywhere: no material_cost row (a sum needs a currency).
    expect(lines.filter((l) => l.startsWith('material_cost,'))).toEqual([]);
  });

  it('has the follow-up rows: counts in count, the rate and the mean in value', () => {
    const csv = reportToCsv(report);
    const cells = (section: string) => csvSection(csv, section, ['count', 'value']);
    expect(cells('follow_ups_due')).toEqual({ count: '4', value: '' });
    expect(cells('follow_ups_done')).toEqual({ count: '2', value: '' });
    expect(cells('follow_ups_on_time')).toEqual({ count: '1', value: '' });
    expect(cells('follow_ups_missed')).toEqual({ count: '1', value: '' });
    expect(cells('follow_ups_pending')).toEqual({ count: '1', value: '' });
    expect(cells('follow_up_rate_pct')).toEqual({ count: '', value: '66.7' });
    expect(cells('satisfaction_mean')).toEqual({ count: '3', value: '4.33' });
  });

  it('writes the §4.5.8.4 inspection rows overall and per site', () => {
    const lines = reportToCsv(report).split('\r\n');
    expect(lines.filter((l) => l.startsWith('inspections,'))).toEqual([
      'inspections,,,,3,1,1,1,,50,,,overall,,,,,,',
      'inspections,,,,3,1,1,1,,50,,,site,Acme,HQ,,,,',
    ]);
  });

  it('quotes cells with commas or quotes', () => {
    const odd = { ...report, milestones: [{ ...report.milestones[0]!, milestone: 'a,"b"' }] };
    expect(reportToCsv(odd).split('\r\n')[1]).toContain('"a,""b"""');
  });
});
