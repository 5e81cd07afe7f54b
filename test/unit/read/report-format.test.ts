import { monthRange, reportToCsv } from '../../../src/application/reports';
import type { MonthlyReport } from '../../../src/contracts/read';

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
    inspections: {
      due: 3,
      metOnTime: 1,
      breached: 1,
      metLate: 0,
      open: 1,
      compliancePct: 50,
      bySite: [],
    },
  };

  it('is one rectangular table, CRLF, empty cells where a column does not apply', () => {
    const lines = reportToCsv(report).split('\r\n');
    expect(lines.at(-1)).toBe('');
    expect(lines[0]).toBe(
      'section,severity,milestone,tier,count,met_on_time,breached,open,not_applicable,compliance_pct,median_seconds,p90_seconds',
    );
    expect(lines[1]).toBe('milestone,I,response,,4,3,1,0,0,75,120,290');
    expect(lines[2]).toBe('milestone,all,spare_parts,,2,0,0,0,2,,,');
    expect(lines).toContain('escalations,,,2,3,,,,,,,');
    expect(lines).toContain('escalations_automatic,,,2,2,,,,,,,');
    expect(lines).toContain('incidents_reported,II,,,2,,,,,,,');
    expect(lines).toContain('dispatched_engineers,,,,5,,,,,,,');
    expect(lines).toContain('on_site_visits,,,,4,,,,,,,');
    expect(lines).toContain('inspections,,,,3,1,1,1,,50,,');
    expect(new Set(lines.slice(0, -1).map((l) => l.split(',').length))).toEqual(new Set([12]));
  });

  it('quotes cells with commas or quotes', () => {
    const odd = { ...report, milestones: [{ ...report.milestones[0]!, milestone: 'a,"b"' }] };
    expect(reportToCsv(odd).split('\r\n')[1]).toContain('"a,""b"""');
  });
});
