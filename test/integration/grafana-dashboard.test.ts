/**
 * deploy/grafana: every SQL query of the provisioned dashboard, read from the dashboard file itself,
 * runs against a real migrated Postgres holding fixture rows and returns exactly the expected rows.
 * The fixture times are placed relative to today's and this month's start in the dashboard's time
 * zone (luxon), so the test holds on any day; a panel added without an expectation here fails.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DateTime } from 'luxon';
import YAML from 'yaml';
import {
  insertEscalation,
  insertIncident,
  insertMilestone,
  ownDatabase,
  type OwnDatabase,
} from './fixtures/read-data';

jest.setTimeout(60_000);

const GRAFANA = path.resolve(__dirname, '../../deploy/grafana');
const MIN = 60_000;

interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  rawSql?: string;
  expr?: string;
}
interface Dashboard {
  panels: { id: number; title: string; datasource: { uid: string }; targets: Target[] }[];
  templating: { list: { name: string; current: { value: string } }[] };
}

const dashboard = JSON.parse(
  readFileSync(path.join(GRAFANA, 'dashboards', 'sla-timer.json'), 'utf8'),
) as Dashboard;
const variables = new Map(dashboard.templating.list.map((v) => [v.name, v.current.value]));
const tz = variables.get('tz')!;

/** The panel's SQL as Grafana sends it: `${name}` and `$name` replaced by the variable's value. */
function sqlOf(panelId: number, refId = 'A'): string {
  const panel = dashboard.panels.find((p) => p.id === panelId)!;
  const raw = panel.targets.find((t) => t.refId === refId)!.rawSql!;
  const sql = raw.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => {
    const value = variables.get((a ?? b)!);
    if (value === undefined) throw new Error(`panel ${panelId}: unknown variable ${whole}`);
    return value;
  });
  return sql;
}

let db: OwnDatabase;
/** Fixture instants (epoch ms). */
let now: number;
let today: number;
let metLate: number;

beforeAll(async () => {
  db = await ownDatabase('grafana');
  now = Date.now();
  const dayStart = DateTime.fromMillis(now, { zone: tz }).startOf('day').toMillis();
  const monthStart = DateTime.fromMillis(now, { zone: tz }).startOf('month').toMillis();
  today = dayStart + Math.floor((now - dayStart) / 2); // today, before now
  metLate = today + Math.floor((now - today) / 2);
  const thisMonth = monthStart + Math.floor((now - monthStart) / 2);
  const lastMonth = monthStart - 2 * 24 * 60 * MIN;
  const at = (ms: number) => new Date(ms);
  const { pool } = db;

  // Every clock starts at its incident's report, as the projector stores it.
  // A: severity I, open. response met; dispatch met late today; arrival at risk (warned, due in
  // 10 min); diagnosis pending (warning still ahead); solution paused.
  await insertIncident(pool, {
    id: 'DASH-A',
    severity: 'I',
    site: 'HQ',
    reportedAt: at(thisMonth),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-A',
    startAt: at(thisMonth),
    milestone: 'response',
    state: 'met',
    dueAt: at(thisMonth + 5 * MIN),
    metAt: at(thisMonth + MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-A',
    startAt: at(thisMonth),
    milestone: 'dispatch',
    state: 'met_late',
    dueAt: at(today),
    metAt: at(metLate),
    breachedAt: at(today),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-A',
    startAt: at(thisMonth),
    milestone: 'arrival',
    state: 'pending',
    dueAt: at(now + 10 * MIN),
    warnAt: [at(now - MIN)],
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-A',
    startAt: at(thisMonth),
    milestone: 'diagnosis',
    state: 'pending',
    dueAt: at(now + 60 * MIN),
    warnAt: [at(now + 30 * MIN)],
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-A',
    startAt: at(thisMonth),
    milestone: 'solution',
    state: 'paused',
    dueAt: null,
  });
  // B: severity II, open. response breached today (still open); dispatch at risk (due in 20 min).
  await insertIncident(pool, {
    id: 'DASH-B',
    severity: 'II',
    site: 'DC-2',
    reportedAt: at(thisMonth),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-B',
    startAt: at(thisMonth),
    milestone: 'response',
    state: 'pending',
    dueAt: at(today),
    warnAt: [at(today - MIN)],
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-B',
    startAt: at(thisMonth),
    milestone: 'dispatch',
    state: 'pending',
    dueAt: at(now + 20 * MIN),
    warnAt: [at(now - 2 * MIN)],
  });
  // C: reported last month, response breached before today and still open.
  await insertIncident(pool, {
    id: 'DASH-C',
    severity: 'I',
    site: 'HQ',
    reportedAt: at(lastMonth),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-C',
    startAt: at(lastMonth),
    milestone: 'response',
    state: 'pending',
    dueAt: at(dayStart - 60 * MIN),
  });
  // D: severity I, resolved this month: response met, arrival not applicable.
  await insertIncident(pool, {
    id: 'DASH-D',
    severity: 'I',
    status: 'resolved',
    reportedAt: at(thisMonth),
    resolvedAt: at(thisMonth + 30 * MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-D',
    startAt: at(thisMonth),
    milestone: 'response',
    state: 'met',
    dueAt: at(thisMonth + 5 * MIN),
    metAt: at(thisMonth + 2 * MIN),
  });
  await insertMilestone(pool, {
    incidentId: 'DASH-D',
    startAt: at(thisMonth),
    milestone: 'arrival',
    state: 'not_applicable',
    dueAt: at(thisMonth + 10 * MIN),
  });
  // Escalations: this month A → 2 and B → 2 automatic, B → 3 manual; C → 2 last month.
  await insertEscalation(pool, {
    incidentId: 'DASH-A',
    toTier: 2,
    at: at(today),
    milestone: 'dispatch',
  });
  await insertEscalation(pool, { incidentId: 'DASH-B', toTier: 2, at: at(today) });
  await insertEscalation(pool, {
    incidentId: 'DASH-B',
    toTier: 3,
    fromTier: 2,
    automatic: false,
    at: at(today),
  });
  await insertEscalation(pool, { incidentId: 'DASH-C', toTier: 2, at: at(lastMonth) });
});

afterAll(async () => {
  await db?.drop();
});

async function rows(panelId: number): Promise<Record<string, unknown>[]> {
  return (await db.pool.query<Record<string, unknown>>(sqlOf(panelId))).rows;
}

/** Expected rows of every SQL panel, by panel id. */
const expectations: Record<number, () => Promise<void>> = {
  // At risk now: warned open milestones, most urgent first, with time left.
  1: async () => {
    const r = await rows(1);
    expect(r.map((x) => [x.incident_id, x.milestone, x.severity])).toEqual([
      ['DASH-A', 'arrival', 'I'],
      ['DASH-B', 'dispatch', 'II'],
    ]);
    expect(Number(r[0]!.time_left)).toBeGreaterThan(0);
    expect(Number(r[0]!.time_left)).toBeLessThanOrEqual(600);
    expect(Number(r[1]!.time_left)).toBeGreaterThan(600);
    expect(Number(r[1]!.time_left)).toBeLessThanOrEqual(1200);
  },
  // Breaches today (count): A dispatch (met late) and B response (open); not C's of yesterday.
  2: async () => {
    expect(await rows(2)).toEqual([{ breaches: '2' }]);
  },
  // Open breaches now: B response and C response.
  3: async () => {
    expect(await rows(3)).toEqual([{ open_breaches: '2' }]);
  },
  // Breaches today (list).
  4: async () => {
    const r = await rows(4);
    expect(r.map(({ overdue_seconds: _o, ...rest }) => rest)).toEqual([
      {
        incident_id: 'DASH-A',
        milestone: 'dispatch',
        severity: 'I',
        site: 'HQ',
        state: 'met_late',
        is_open: false,
        breached_at: new Date(today),
      },
      {
        incident_id: 'DASH-B',
        milestone: 'response',
        severity: 'II',
        site: 'DC-2',
        state: 'breached',
        is_open: true,
        breached_at: new Date(today),
      },
    ]);
    expect(r[0]!.overdue_seconds).toBe(String(Math.floor((metLate - today) / 1000)));
    expect(Number(r[1]!.overdue_seconds)).toBeGreaterThanOrEqual(0);
  },
  // Compliance this month: only decided milestones of incidents reported this month.
  5: async () => {
    expect(await rows(5)).toEqual([
      {
        severity: 'I',
        milestone: 'response',
        decided: '2',
        met: '2',
        breached: '0',
        compliance_pct: '100.0',
      },
      {
        severity: 'I',
        milestone: 'dispatch',
        decided: '1',
        met: '0',
        breached: '1',
        compliance_pct: '0.0',
      },
      {
        severity: 'II',
        milestone: 'response',
        decided: '1',
        met: '0',
        breached: '1',
        compliance_pct: '0.0',
      },
    ]);
  },
  // Escalations this month by tier.
  6: async () => {
    expect(await rows(6)).toEqual([
      { tier: 'tier 2', automatic: '2', manual: '0' },
      { tier: 'tier 3', automatic: '0', manual: '1' },
    ]);
  },
};

const sqlPanels = dashboard.panels.filter((p) => p.targets.some((t) => t.rawSql !== undefined));

test('the dashboard has SQL panels, each with one query and an expectation here', () => {
  expect(sqlPanels.length).toBeGreaterThanOrEqual(6);
  for (const panel of sqlPanels) {
    expect([panel.title, panel.targets.map((t) => t.refId)]).toEqual([panel.title, ['A']]);
    expect([panel.title, panel.id in expectations]).toEqual([panel.title, true]);
  }
});

test.each(sqlPanels.map((p) => [p.title, p.id] as const))(
  'panel "%s" returns the expected rows',
  async (_title, id) => {
    await expectations[id]!();
  },
);

test('panels use the provisioned datasources, SQL panels query only the documented views', () => {
  const provisioned = YAML.parse(
    readFileSync(path.join(GRAFANA, 'provisioning', 'datasources', 'sla.yaml'), 'utf8'),
  ) as { datasources: { uid: string; type: string }[] };
  const types = new Map(provisioned.datasources.map((d) => [d.uid, d.type]));
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      expect([panel.title, types.get(target.datasource.uid)]).toEqual([
        panel.title,
        target.datasource.type,
      ]);
      if (target.rawSql === undefined) continue;
      const relations = [...target.rawSql.matchAll(/\b(?:FROM|JOIN)\s+(\w+)/gi)].map((m) => m[1]);
      expect(
        relations.filter((r) => !/^v_(incidents|milestones|breaches|escalations)$/.test(r!)),
      ).toEqual([]);
    }
  }
});
