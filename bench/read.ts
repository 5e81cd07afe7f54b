/**
 * `npm run bench -- read [options]`: read API latency with a realistic amount of history (issue 8).
 *
 *   --incidents 100000   incidents in the database (default)
 *   --iterations 2000    requests per measured endpoint (the monthly report runs 5 times)
 *   --explain            print the plans of the hot statements (EXPLAIN ANALYZE)
 *
 * Data (generated in SQL, into a database of this run's own, `<BENCH_DB_PREFIX>read_<tag>`, dropped
 * at the end; BENCH_KEEP_DB=1 keeps it): a year of
 * incidents reported evenly, 6 default-policy milestones each (met, met late or not applicable
 * once settled), 8 lifecycle events per settled incident, escalations and outbox rows for late
 * milestones. 2 % are open, reported within the last two hours, so the at-risk list and the
 * breached/at-risk filters have live work to do (~2,000 open incidents, ~10,000 open milestones).
 *
 * Also GET /v1/board, the wallboard's snapshot (issue 16).
 *
 * Requests go through the real routes (authentication, validation, SQL, JSON) with
 * fastify.inject, one at a time; the numbers are per request, in ms. Targets (issue 8): p99 ≤
 * 50 ms for detail and at-risk, ≤ 2 s for the monthly report.
 */
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ApiKeyStore, createApiKey } from '../src/http/api-keys';
import { installAuth } from '../src/http/auth';
import { registerReadRoutes } from '../src/http/read';
import { buildServer } from '../src/http/server';
import { systemClock } from '../src/infra/clock';
import { createPool, type Pool } from '../src/infra/db';
import { migrate } from '../src/infra/migrate';
import { createBenchDatabase } from './support/database';

interface Options {
  incidents: number;
  iterations: number;
  explain: boolean;
}

function parseArgs(args: string[]): Options {
  const opts: Options = { incidents: 100_000, iterations: 2000, explain: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--explain') opts.explain = true;
    else if (a === '--incidents') opts.incidents = Number(args[++i]);
    else if (a === '--iterations') opts.iterations = Number(args[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  if (!(opts.incidents >= 100) || !(opts.iterations >= 10)) {
    throw new Error('--incidents ≥ 100, --iterations ≥ 10');
  }
  return opts;
}

export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const database = await createBenchDatabase('read');
  const pool = createPool(database.url, { max: 4 });
  try {
    await migrate(pool);
    const t0 = performance.now();
    await generate(pool, opts.incidents);
    log(
      `generated ${opts.incidents} incidents in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    await printSizes(pool);
    await measure(pool, opts);
  } finally {
    await pool.end();
    await database.drop();
  }
}

// ---------------------------------------------------------------------------------------------
// Data

async function generate(pool: Pool, n: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SET statement_timeout = 0');
    // Bulk history is not live news: skip the stream triggers (needs a superuser; else the
    // stream rows are deleted afterwards).
    const quiet = await client
      .query('SET session_replication_role = replica')
      .then(() => true)
      .catch(() => false);
    await client.query(
      `INSERT INTO incidents (incident_id, status, severity, title, category, customer, site,
         reporter, assignee, tier, policy_id, policy_version, reported_at, resolved_at, closed_at,
         cancelled_at, event_count, last_event_at, updated_at)
       SELECT id, status, severity, 'Incident ' || g, 'network', 'customer-' || (g % 20),
              'site-' || (g % 50), 'desk', 'engineer-' || (g % 40), 1, 'default', 1,
              reported, resolved,
              CASE WHEN status = 'closed' THEN resolved + interval '1 hour' END,
              CASE WHEN status = 'cancelled' THEN reported + interval '10 minutes' END,
              CASE WHEN status = 'open' THEN 1 ELSE 8 END, reported, now()
       FROM generate_series(1, $1::int) g,
       LATERAL (SELECT 'BENCH-' || lpad(g::text, 7, '0') AS id,
                       (ARRAY['I','II','II','III','III','III','IV','IV','IV','IV'])[1 + (g * 7) % 10] AS severity,
                       CASE WHEN g % 50 = 0 THEN 'open'
                            WHEN g % 97 = 0 THEN 'cancelled'
                            WHEN g % 5 = 0 THEN 'resolved'
                            ELSE 'closed' END AS status) s,
       LATERAL (SELECT CASE WHEN s.status = 'open'
                            THEN now() - interval '2 hours' * ((g * 7919) % 1000) / 1000.0
                            ELSE now() - interval '365 days' * g / $1::int END AS reported) r,
       LATERAL (SELECT CASE WHEN s.status IN ('resolved', 'closed')
                            THEN r.reported + interval '3 hours' END AS resolved) z`,
      [n],
    );
    // Six milestones per incident, limits of the default policy. Settled incidents: met, or met
    // late for one in eight; spare parts not applicable. Open ones: the first two met for half of
    // them, the rest pending (deadlines ahead or already past).
    await client.query(
      `INSERT INTO milestones (incident_id, milestone, cycle, state, start_at, due_at, warn_at,
         met_at, breached_at, escalates_to_tier)
       SELECT i.incident_id, d.milestone, 0, st.state, t.start_at, t.due_at,
              ARRAY[t.start_at + t.lim * 0.8], m.met_at,
              CASE WHEN st.state = 'met_late' THEN t.due_at END, d.tier
       FROM incidents i
       CROSS JOIN (VALUES
         ('response', 1, ARRAY[5, 5, 10, 15], 0, 2),
         ('dispatch', 2, ARRAY[5, 5, 10, 15], 0, 2),
         ('arrival', 3, ARRAY[10, 15, 20, 20], 0, 2),
         ('diagnosis', 4, ARRAY[60, 60, 120, 120], 0, 3),
         ('solution', 5, ARRAY[60, 60, 120, 120], 0, 3),
         ('spare_parts', 6, ARRAY[120, 120, 120, 120], 1440, 3)
       ) d(milestone, ord, limits, start_after, tier)
       CROSS JOIN LATERAL (
         SELECT make_interval(mins => d.limits[array_position(ARRAY['I','II','III','IV'], i.severity)]) AS lim,
                i.reported_at + make_interval(mins => d.start_after) AS start_at,
                (hashtext(i.incident_id || d.milestone) & 1023) / 1024.0 AS r
       ) t0
       CROSS JOIN LATERAL (SELECT t0.lim, t0.start_at, t0.start_at + t0.lim AS due_at, t0.r) t
       CROSS JOIN LATERAL (
         SELECT CASE
           WHEN i.status = 'cancelled' OR d.milestone = 'spare_parts' THEN 'not_applicable'
           WHEN i.status = 'open' AND (d.ord > 2 OR t.r < 0.5) THEN 'pending'
           WHEN t.r < 0.125 THEN 'met_late'
           ELSE 'met' END AS state
       ) st
       CROSS JOIN LATERAL (
         SELECT CASE WHEN st.state = 'met' THEN t.start_at + t.lim * (0.2 + 0.75 * t.r)
                     WHEN st.state = 'met_late' THEN t.due_at + t.lim * (0.1 + t.r) END AS met_at
       ) m`,
    );
    // Lifecycle events: the whole life of a settled incident, the report of an open one.
    await client.query(
      `INSERT INTO incident_events (incident_id, source, event_id, type, time, data,
         kafka_partition, kafka_offset, digest)
       SELECT i.incident_id, '/bench', i.incident_id || '-' || e.n, e.type::incident_event_type,
              i.reported_at + e.after, e.data::jsonb, 0, row_number() OVER (),
              substring(sha256(convert_to(i.incident_id || '-' || e.n, 'UTF8')) FROM 1 FOR 16)
       FROM incidents i
       CROSS JOIN (VALUES
         (1, 'incident.reported', interval '0', '{"severity":"II","title":"t"}'),
         (2, 'incident.acknowledged', interval '2 minutes', '{}'),
         (3, 'incident.dispatched', interval '3 minutes', '{"engineers":["a","b"]}'),
         (4, 'incident.arrived', interval '12 minutes', '{"engineer":"a"}'),
         (5, 'incident.diagnosed', interval '40 minutes', '{"cause":"c"}'),
         (6, 'incident.solution_provided', interval '50 minutes', '{"kind":"solution"}'),
         (7, 'incident.resolved', interval '3 hours', '{}'),
         (8, 'incident.closed', interval '4 hours', '{}')
       ) e(n, type, after, data)
       WHERE e.n = 1 OR i.status IN ('resolved', 'closed')`,
    );
    // Late milestones escalated (one row per tier reached) and left SLA events in the outbox.
    await client.query(
      `INSERT INTO escalations (incident_id, to_tier, from_tier, automatic, reason, milestone,
         event_id, escalated_at)
       SELECT DISTINCT ON (m.incident_id, m.escalates_to_tier) m.incident_id, m.escalates_to_tier,
              1, true, m.milestone || ' breached', m.milestone, 'esc-' || m.incident_id, m.due_at
       FROM milestones m
       WHERE m.state = 'met_late' OR (m.state = 'pending' AND m.due_at < now())
       ORDER BY m.incident_id, m.escalates_to_tier, m.due_at`,
    );
    await client.query(
      `INSERT INTO outbox (id, topic, message_key, type, payload, created_at)
       SELECT m.incident_id || '-' || m.milestone || '-' || k.kind, k.topic, m.incident_id, k.type,
              jsonb_build_object('specversion', '1.0', 'id', m.incident_id || m.milestone || k.kind,
                'source', '/sla-timer', 'type', k.type, 'subject', m.incident_id,
                'data', jsonb_build_object('incidentId', m.incident_id, 'milestone', m.milestone)),
              m.warn_at[1] + k.after
       FROM milestones m
       CROSS JOIN (VALUES ('w', 'sla.warnings', 'sla.warning', interval '0'),
                          ('b', 'sla.escalations', 'sla.breached', interval '2 minutes')) k(kind, topic, type, after)
       WHERE m.state = 'met_late'`,
    );
    // All published: out of the queue (migrations/0011), into outbox_sent.
    await client.query(
      `WITH done AS (DELETE FROM outbox_unsent RETURNING id, created_at)
       INSERT INTO outbox_sent (id, sent_at) SELECT id, created_at FROM done`,
    );
    if (!quiet) await client.query('TRUNCATE stream_events');
    // A live database is vacuumed by autovacuum; without it counts could not use index-only scans.
    await client.query('VACUUM ANALYZE');
  } finally {
    client.release();
  }
}

async function printSizes(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ t: string; n: string }>(
    `SELECT 'incidents' AS t, count(*)::text AS n FROM incidents
     UNION ALL SELECT 'open incidents', count(*)::text FROM incidents WHERE status = 'open'
     UNION ALL SELECT 'milestones', count(*)::text FROM milestones
     UNION ALL SELECT 'open milestones', count(*)::text FROM milestones WHERE state IN ('pending', 'warned')
     UNION ALL SELECT 'incident_events', count(*)::text FROM incident_events
     UNION ALL SELECT 'escalations', count(*)::text FROM escalations
     UNION ALL SELECT 'outbox', count(*)::text FROM outbox`,
  );
  log(rows.map((r) => `${r.t}: ${r.n}`).join(', '));
}

// ---------------------------------------------------------------------------------------------
// Measurement

interface Result {
  name: string;
  n: number;
  p50: number;
  p99: number;
  max: number;
  target?: number;
}

async function measure(pool: Pool, opts: Options): Promise<void> {
  const key = createApiKey(['incidents:read'], 'bench');
  const app = buildServer({
    logger: pino({ level: 'silent' }),
    metrics: new Registry(),
    readiness: [],
  });
  installAuth(app, ApiKeyStore.fromConfig([key.configEntry]));
  registerReadRoutes(app, { pool, clock: systemClock, reportTimeZone: 'Asia/Shanghai' });
  await app.ready();
  const headers = { authorization: `Bearer ${key.token}` };
  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url, headers });
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res;
  };

  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM incidents');
  const total = rows[0]!.n;
  const randomId = () => `BENCH-${String(1 + Math.floor(Math.random() * total)).padStart(7, '0')}`;
  const second = JSON.parse(
    (await get('/v1/incidents?severity=III&sort=severity&limit=50')).body,
  ) as {
    nextCursor: string;
  };
  const lastMonth = new Date();
  lastMonth.setUTCDate(1);
  lastMonth.setUTCMonth(lastMonth.getUTCMonth() - 1);
  const month = lastMonth.toISOString().slice(0, 7);

  const cases: { name: string; url: () => string; n: number; target?: number }[] = [
    {
      name: 'GET /v1/incidents/{id}',
      url: () => `/v1/incidents/${randomId()}`,
      n: opts.iterations,
      target: 50,
    },
    { name: 'GET /v1/sla/at-risk', url: () => '/v1/sla/at-risk', n: opts.iterations, target: 50 },
    {
      name: 'GET /v1/sla/at-risk?includeBreached',
      url: () => '/v1/sla/at-risk?includeBreached=true&horizon=PT2H',
      n: Math.ceil(opts.iterations / 4),
    },
    {
      name: 'list ?status=open&severity=I,II',
      url: () => '/v1/incidents?status=open&severity=I,II',
      n: Math.ceil(opts.iterations / 4),
    },
    {
      name: 'list ?site=…&breached=true',
      url: () => `/v1/incidents?site=site-${Math.floor(Math.random() * 50)}&breached=true`,
      n: Math.ceil(opts.iterations / 4),
    },
    {
      name: 'list ?atRisk=true',
      url: () => '/v1/incidents?atRisk=true',
      n: Math.ceil(opts.iterations / 4),
    },
    {
      name: 'list page 2 ?severity=III&sort=severity',
      url: () => `/v1/incidents?severity=III&sort=severity&limit=50&cursor=${second.nextCursor}`,
      n: Math.ceil(opts.iterations / 4),
    },
    // The wallboard's snapshot (issue 16): loaded on every change the stream announces.
    { name: 'GET /v1/board', url: () => '/v1/board', n: Math.ceil(opts.iterations / 4) },
    {
      name: 'GET /v1/board?site=…',
      url: () => `/v1/board?site=site-${Math.floor(Math.random() * 50)}`,
      n: Math.ceil(opts.iterations / 4),
    },
    {
      name: `GET /v1/reports/monthly?month=${month}`,
      url: () => `/v1/reports/monthly?month=${month}`,
      n: 5,
      target: 2000,
    },
  ];

  const results: Result[] = [];
  for (const c of cases) {
    for (let i = 0; i < Math.min(20, c.n); i++) await get(c.url()); // warm caches and plans
    const times: number[] = [];
    for (let i = 0; i < c.n; i++) {
      const url = c.url();
      const t0 = performance.now();
      await get(url);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
    results.push({
      name: c.name,
      n: c.n,
      p50: q(0.5),
      p99: q(0.99),
      max: times.at(-1)!,
      target: c.target,
    });
  }
  await app.close();

  log('');
  log(
    `${'request'.padEnd(48)} ${'n'.padStart(5)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}  target`,
  );
  for (const r of results) {
    const verdict =
      r.target === undefined ? '' : `p99 ≤ ${r.target} ms: ${r.p99 <= r.target ? 'met' : 'MISSED'}`;
    log(
      `${r.name.padEnd(48)} ${String(r.n).padStart(5)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(1).padStart(8)}  ${verdict}`,
    );
  }
  if (opts.explain) await explain(pool, randomId());
}

/** The plans of the statements behind detail, at-risk and the open-incidents list. */
async function explain(pool: Pool, id: string): Promise<void> {
  const statements: [string, string, unknown[]][] = [
    ['detail: milestones', 'SELECT * FROM milestones m WHERE m.incident_id = $1', [id]],
    [
      'at-risk (as ReadQueries.atRisk: limit milestones first, then join)',
      `SELECT m.*, i.title FROM (
         SELECT m.* FROM milestones m
         WHERE m.state IN ('pending', 'warned') AND m.due_at <= now() + interval '1 hour'
           AND m.breached_at IS NULL AND m.due_at > now()
         ORDER BY m.due_at, m.incident_id, m.milestone, m.cycle LIMIT 100) m
       JOIN incidents i ON i.incident_id = m.incident_id
       WHERE i.status = 'open'
       ORDER BY m.due_at, m.incident_id, m.milestone, m.cycle`,
      [],
    ],
    [
      'list: open, severity I/II, newest first',
      `SELECT i.incident_id FROM incidents i
       WHERE i.reported_at IS NOT NULL AND i.status = ANY('{open}') AND i.severity = ANY('{I,II}')
       ORDER BY i.reported_at DESC, i.incident_id DESC LIMIT 51`,
      [],
    ],
    ['timeline: outbox by incident', 'SELECT * FROM outbox o WHERE o.message_key = $1', [id]],
  ];
  for (const [name, sql, params] of statements) {
    const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${sql}`,
      params,
    );
    log(`\n-- ${name}`);
    for (const r of rows) log(r['QUERY PLAN']);
  }
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}
