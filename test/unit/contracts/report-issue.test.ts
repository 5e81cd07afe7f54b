/**
 * The issued report's contract (src/contracts/report-issue.ts): digests over RFC 8785 canonical
 * JSON, figures compared without their generation time, and the `report.monthly_issued` event.
 */
import { createHash } from 'node:crypto';
import { summarize } from '../../../src/application/report-issue';
import type { CostStats, MonthlyReport } from '../../../src/contracts/read';
import { canonicalJson } from '../../../src/contracts/events';
import {
  buildReportIssued,
  reportDigest,
  reportMonthlyIssuedSchema,
  sameFigures,
} from '../../../src/contracts/report-issue';

const effort = { personTimes: 0, personTimesPerDay: 0, personDays: 0, cost: [] };
const costs: CostStats = {
  installation: { ...effort, cost: [{ currency: 'CNY', amount: 99_900 }] },
  dispatch: effort,
  material: [],
  transport: [],
  other: [],
  totalAfterSales: [
    { currency: 'CNY', amount: 12_050 },
    { currency: 'USD', amount: 700 },
  ],
};

const report: MonthlyReport = {
  month: '2026-01',
  timeZone: 'Asia/Shanghai',
  from: '2025-12-31T16:00:00.000Z',
  to: '2026-01-31T16:00:00.000Z',
  generatedAt: '2026-01-31T17:00:00.000Z',
  incidents: { reported: 3, bySeverity: { I: 2, II: 1, III: 0, IV: 0 }, cancelled: 0, reopened: 0 },
  milestones: [
    ...(['I', 'all'] as const).map((severity) => ({
      severity,
      milestone: 'response',
      count: 3,
      metOnTime: 2,
      breached: 1,
      open: 0,
      notApplicable: 0,
      compliancePct: 66.7,
      medianSeconds: 120,
      p90Seconds: 280,
    })),
    {
      severity: 'all' as const,
      milestone: 'arrival',
      count: 2,
      metOnTime: 0,
      breached: 0,
      open: 2,
      notApplicable: 0,
      compliancePct: null,
      medianSeconds: null,
      p90Seconds: null,
    },
  ],
  escalations: [{ tier: 2, total: 1, automatic: 1, manual: 0 }],
  field: { dispatches: 1, dispatchedEngineers: 2, onSiteVisits: 1 },
  statistics: { days: 31, overall: costs, byCustomer: [], byProject: [] },
  followUps: {
    due: 2,
    followedUp: 1,
    onTime: 1,
    missed: 0,
    pending: 1,
    ratePct: 100,
    satisfaction: { responses: 1, mean: 5 },
  },
  inspections: {
    due: 0,
    metOnTime: 0,
    breached: 0,
    metLate: 0,
    open: 0,
    compliancePct: null,
    bySite: [],
  },
};

test('canonical JSON sorts keys at every depth and keeps array order (RFC 8785)', () => {
  expect(canonicalJson({ b: 1, a: [{ d: 'x', c: null }, 2.5], é: true, Z: 0 })).toBe(
    '{"Z":0,"a":[{"c":null,"d":"x"},2.5],"b":1,"é":true}',
  );
});

test('the digest is the SHA-256 of the canonical JSON, whatever the key order', () => {
  const reordered = JSON.parse(
    JSON.stringify(Object.fromEntries(Object.entries(report).reverse())),
  ) as MonthlyReport;
  const hex = createHash('sha256').update(canonicalJson(report)).digest('hex');
  expect(reportDigest(report)).toBe(`sha256:${hex}`);
  expect(reportDigest(reordered)).toBe(reportDigest(report));
});

test('figures are the same when only the generation time differs', () => {
  expect(sameFigures(report, { ...report, generatedAt: '2026-03-01T00:00:00.000Z' })).toBe(true);
  expect(sameFigures(report, { ...report, incidents: { ...report.incidents, cancelled: 1 } })).toBe(
    false,
  );
});

test('report.monthly_issued: id from the month, summary over every milestone, href', () => {
  const issued = {
    month: '2026-01',
    timeZone: 'Asia/Shanghai',
    issuedAt: '2026-01-31T17:00:00.000Z',
    digest: reportDigest(report),
    report,
    corrections: [],
  };
  const summary = summarize(report, []);
  const event = buildReportIssued(issued, summary, 'https://sla.example.com/');
  expect(reportMonthlyIssuedSchema.parse(event)).toEqual(event);
  expect(
    buildReportIssued({ ...issued, issuedAt: '2026-02-01T00:00:00.000Z' }, summary, undefined).id,
  ).toBe(event.id);
  expect(event.data).toEqual({
    month: '2026-01',
    timeZone: 'Asia/Shanghai',
    issuedAt: '2026-01-31T17:00:00.000Z',
    digest: issued.digest,
    // Only the `all` rows count: severity rows would count each milestone twice.
    summary: {
      incidentsReported: 3,
      milestones: { count: 5, metOnTime: 2, breached: 1, compliancePct: 66.7 },
      escalations: 1,
      // Row 5 of §4.5.3.6, per currency; installation (row 1) is not in it.
      totalAfterSalesCost: [
        { currency: 'CNY', amount: 12_050 },
        { currency: 'USD', amount: 700 },
      ],
      corrections: [],
    },
    href: 'https://sla.example.com/v1/reports/monthly/2026-01/issued',
  });
  expect(buildReportIssued(issued, summary, undefined).data.href).toBe(
    '/v1/reports/monthly/2026-01/issued',
  );
});
