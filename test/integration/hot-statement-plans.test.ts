/**
 * The plans of the prepared statements on the firing and relay paths (issue 12, burst lateness).
 * A named statement is planned once per connection and, after five executions, may run a generic
 * plan: one that does not see how few rows its parameters select. The firing claim's generic plan
 * once hashed the whole `milestones` table (every incident ever) on every round, 40 ms per claim
 * with 35,000 rows and growing with the history. Here every hot statement is planned generic on
 * tables with a history, as this machine runs them (autovacuum off: never analyzed) and after an
 * ANALYZE, and no plan may read a history table whole (Seq Scan).
 */
import { CLAIM_SQL, LOCK_INCIDENTS_SQL } from '../../src/scheduler/fire';
import { CLAIM_UNSENT_SQL, MARK_SENT_SQL } from '../../src/outbox/store';
import { ownDatabase, type OwnDatabase } from '../helpers/infra';

jest.setTimeout(120_000);

/** Tables that grow with the history (all but the queues). */
const HISTORY_TABLES = ['incidents', 'milestones', 'escalations', 'outbox', 'timer_fires'];

const HOT_STATEMENTS: { name: string; text: string; args: string }[] = [
  { name: 'sla_fire_claim', text: CLAIM_SQL, args: '500, true' },
  { name: 'sla_fire_lock_incidents', text: LOCK_INCIDENTS_SQL, args: `'{INC-PLAN-1}'` },
  { name: 'sla_outbox_claim', text: CLAIM_UNSENT_SQL, args: `500, '{}', '{sla.reports}'` },
  { name: 'sla_outbox_sent', text: MARK_SENT_SQL, args: `'{OUT-1}'` },
];

let db: OwnDatabase;

/**
 * A history of 5,000 incidents: 6 milestones, 2 timers (due for every other incident), an
 * escalation and 4 outbox rows of ~600 bytes each (a CloudEvent), all published but the last
 * incident's.
 */
beforeAll(async () => {
  db = await ownDatabase('plans');
  await db.pool.query(`
    INSERT INTO incidents (incident_id, status, severity, title, site, assignee, tier, reported_at)
    SELECT 'INC-PLAN-' || n, 'open', 'I', 'Core switch down', 'site-' || (n % 50), 'engineer-1', 1,
           now() - interval '1 hour'
    FROM generate_series(1, 5000) n;
    INSERT INTO milestones (incident_id, milestone, cycle, state, start_at, due_at, escalates_to_tier)
    SELECT 'INC-PLAN-' || n, m, 0, 'pending', now() - interval '1 hour', now() + interval '1 hour', 2
    FROM generate_series(1, 5000) n,
         unnest(ARRAY['response', 'dispatch', 'on_site', 'diagnosis', 'solution', 'follow_up']) m;
    INSERT INTO escalations (incident_id, to_tier, from_tier, automatic, reason, milestone, event_id)
    SELECT 'INC-PLAN-' || n, 2, 1, true, 'response breached', 'response', 'ESC-' || n
    FROM generate_series(1, 5000) n;
    INSERT INTO timers (timer_key, generation, incident_id, milestone, cycle, kind, threshold,
                        due_at, deadline)
    SELECT 'INC-PLAN-' || n || '/response/0/' || k, 1, 'INC-PLAN-' || n, 'response', 0, k,
           CASE k WHEN 'warning' THEN '0.8' END,
           CASE WHEN n % 2 = 1 THEN now() + interval '10 minutes'
                WHEN k = 'warning' THEN now() - interval '20 minutes'
                ELSE now() - interval '10 minutes' END,
           now() + interval '10 minutes'
    FROM generate_series(1, 5000) n, unnest(ARRAY['warning', 'breach']) k;
    INSERT INTO outbox (id, topic, message_key, type, payload)
    SELECT 'OUT-' || n || '-' || k, 'sla.escalations', 'INC-PLAN-' || n, 'sla.breached',
           jsonb_build_object('id', 'OUT-' || n || '-' || k, 'data', repeat('x', 500))
    FROM generate_series(1, 5000) n, generate_series(1, 4) k;
    -- Published but the last incident's: the queue is short, the record long.
    WITH sent AS (
      DELETE FROM outbox_unsent WHERE id NOT LIKE 'OUT-5000-%' RETURNING id
    )
    INSERT INTO outbox_sent (id, sent_at) SELECT id, now() FROM sent;
  `);
});

afterAll(async () => {
  await db?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/** The history tables a plan reads whole, from EXPLAIN (FORMAT JSON) of the generic plan. */
async function seqScannedHistory(text: string, args: string): Promise<string[]> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE hot AS ${text}`);
    const { rows } = await client.query<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE hot(${args})`,
    );
    const found: string[] = [];
    const walk = (node: PlanNode) => {
      if (node['Node Type'] === 'Seq Scan' && HISTORY_TABLES.includes(node['Relation Name']!)) {
        found.push(node['Relation Name']!);
      }
      node.Plans?.forEach(walk);
    };
    walk(rows[0]!['QUERY PLAN'][0]!.Plan);
    return found;
  } finally {
    await client.query('ROLLBACK');
    await client.query('DEALLOCATE ALL'); // prepared statements outlive the transaction
    client.release();
  }
}

describe.each([
  ['never analyzed (autovacuum off)', false],
  ['after ANALYZE', true],
])('generic plans, %s', (_label, analyze) => {
  beforeAll(async () => {
    if (analyze) await db.pool.query('ANALYZE');
  });

  test.each(HOT_STATEMENTS)('$name reads no history table whole', async ({ text, args }) => {
    expect(await seqScannedHistory(text, args)).toEqual([]);
  });
});

test('the firing claim takes due breaches, and due warnings only when no breach is due', async () => {
  // Even incidents: a warning due 20 min ago and a breach due 10 min ago (2,500 of each).
  const claimKinds = async (batch: number, claimWarnings = true) => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ kind: string }>({
        text: CLAIM_SQL,
        values: [batch, claimWarnings],
      });
      const count = (kind: string) => rows.filter((r) => r.kind === kind).length;
      return { breach: count('breach'), warning: count('warning') };
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  };
  expect(await claimKinds(3)).toEqual({ breach: 3, warning: 0 });
  // A round with breaches due carries no warnings, even with room for them.
  expect(await claimKinds(6000)).toEqual({ breach: 2500, warning: 0 });
  // Warnings are claimed when no breach is due.
  await db.pool.query(`UPDATE timers SET due_at = now() + interval '1 hour' WHERE kind = 'breach'`);
  expect(await claimKinds(6000)).toEqual({ breach: 0, warning: 2500 });
  // A round the runner keeps for breaches claims no warnings.
  expect(await claimKinds(6000, false)).toEqual({ breach: 0, warning: 0 });
  // Nothing claimed: one row carrying only the database's now() (the runner re-arms with it).
  const { rows } = await db.pool.query<{ timer_key: string | null; db_now: Date }>({
    text: CLAIM_SQL,
    values: [10, false],
  });
  expect(rows).toEqual([expect.objectContaining({ timer_key: null, db_now: expect.any(Date) })]);
});
