/**
 * `npm run bench -- storage [--incidents N] [--rounds R] [--vacuum] [--brokers HOST:PORT]`:
 * Postgres bytes per incident after a fixed workload, table by table (issue 12 item 5).
 *
 * Runs the service (every role, `src/main.ts`) on a Postgres cluster of its own
 * (test/chaos/infra.ts; CHAOS_PORT_BASE + 20, default 18300, service on + 30) with autovacuum off
 * like the shared machine, and a Kafka broker of its own on + 10, or with `--brokers` an already
 * running one (topics of its own; bytes in Postgres do not depend on the broker). It cannot run
 * beside `npm run chaos` on the same base. Each round posts N new incidents over HTTP and walks
 * them through a whole life in phases, each phase a separate POST round so that rows are written
 * and rewritten the way they are in production (report → acknowledge and dispatch → arrive →
 * diagnose and solve → resolve and close → follow up: 10 events). A quarter are reported 6 min late
 * (sev I–II: response and dispatch breach at once, with an escalation); the rest meet every
 * milestone. Severities cycle I–IV. After each round it waits until everything is projected and
 * published, then prints pg_total_relation_size per table (heap + indexes + TOAST) divided by the
 * incidents so far, and the dead rows. `--vacuum` runs a plain VACUUM between rounds (an operator's
 * schedule, README "Storage"); without it nothing is ever vacuumed.
 *
 * After the last round it also prints the marginal growth: the bytes the last round added (its
 * sizes minus the round before's) per incident of that round, table by table, then by heap and
 * index. That is the steady state: a table whose space is reused (the queues once vacuumed) adds
 * about 0, while the cumulative figure still carries the first rounds' high-water mark.
 *
 * `stream_events` (the live feed) is trimmed by age (STREAM_RETENTION_MS, 24 h by default), so its
 * share per incident depends on the incident rate, not on the history: it is printed apart, and
 * the "kept per incident" figure is everything else.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Pool } from 'pg';
import { bringUp } from '../test/chaos';
import { loadAverage, sleep, startPgCluster } from '../test/chaos/infra';
import { createTopicsFor } from '../test/chaos/judge';
import { apiKeys, ServiceProcess } from '../test/chaos/service';

const SEVERITIES = ['I', 'II', 'III', 'IV'] as const;

interface Phase {
  name: string;
  events(id: string, n: number, late: boolean, now: number): Record<string, unknown>[];
}

const at = (ms: number) => new Date(ms).toISOString();
const ev = (id: string, type: string, time: number, data: Record<string, unknown> = {}) => ({
  specversion: '1.0',
  id: `${id}-${type.replace('incident.', '')}`,
  source: '/bench-storage',
  type,
  subject: id,
  time: at(time),
  data,
});

const PHASES: Phase[] = [
  {
    name: 'report',
    events: (id, n, late, now) => [
      ev(id, 'incident.reported', late ? now - 6 * 60_000 : now - 10_000, {
        severity: late ? SEVERITIES[n % 2] : SEVERITIES[n % 4],
        title: `Storage bench incident ${n}`,
        site: `site-${n % 40}`,
        customer: `customer-${n % 25}`,
        category: 'network',
      }),
    ],
  },
  {
    name: 'acknowledge, assign, dispatch',
    events: (id, _n, _late, now) => [
      ev(id, 'incident.acknowledged', now, { by: 'desk' }),
      ev(id, 'incident.assigned', now, { assignee: 'eng-1', tier: 1 }),
      ev(id, 'incident.dispatched', now, { engineers: ['eng-1'] }),
    ],
  },
  {
    name: 'arrive',
    events: (id, _n, _late, now) => [ev(id, 'incident.arrived', now, { engineer: 'eng-1' })],
  },
  {
    name: 'diagnose, solve',
    events: (id, _n, _late, now) => [
      ev(id, 'incident.diagnosed', now, { cause: 'line card' }),
      ev(id, 'incident.solution_provided', now, { kind: 'solution', detail: 'replaced' }),
    ],
  },
  {
    name: 'resolve, close',
    events: (id, _n, _late, now) => [
      ev(id, 'incident.resolved', now, { resolution: 'fixed' }),
      ev(id, 'incident.closed', now, { confirmedBy: 'customer' }),
    ],
  },
  {
    // Seed §4.5.7.6: every handled fault owes a follow-up (72 h clock from the resolution); without
    // it each incident would keep its follow_up warning and breach timers for 72 h.
    name: 'follow up',
    events: (id, n, _late, now) => [
      ev(id, 'incident.followed_up', now, { channel: 'phone', satisfaction: 1 + (n % 5) }),
    ],
  },
];

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      incidents: { type: 'string', default: '2000' },
      rounds: { type: 'string', default: '3' },
      vacuum: { type: 'boolean', default: false },
      brokers: { type: 'string' },
    },
  });
  const perRound = Number(values.incidents);
  const rounds = Number(values.rounds);
  const say = (line: string) => console.log(line);
  say(
    `storage: ${rounds} rounds × ${perRound} incidents, ${values.vacuum ? 'VACUUM between rounds' : 'never vacuumed'}, ` +
      `autovacuum off; load average ${loadAverage()}`,
  );
  const env = await ownInfrastructure(
    Number(process.env.CHAOS_PORT_BASE ?? 18300),
    values.brokers,
    say,
  );
  const label = `storage_${randomBytes(3).toString('hex')}`;
  const keys = apiKeys();
  const topics = {
    events: `bench.${label}.events`,
    warnings: `bench.${label}.warnings`,
    escalations: `bench.${label}.escalations`,
    dlq: `bench.${label}.dlq`,
  };
  await createTopicsFor(env.broker.brokers, topics);
  const databaseUrl = env.pg.url(`i12chaos_${label}`);
  const svc = new ServiceProcess(
    {
      label: `bench-${label}`,
      databaseUrl,
      brokers: env.broker.brokers,
      topics,
      groupId: `bench.${label}.projector`,
      writeToken: keys.writeToken,
      apiKeys: keys.apiKeys,
      env: { RATE_LIMIT_MAX: '0', LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: '0' },
    },
    env.nextPort(),
  );
  svc.start();
  let pool: Pool | undefined;
  try {
    await svc.waitReady();
    pool = new Pool({ connectionString: databaseUrl, max: 2 });
    let posted = 0;
    const sizes: Map<string, number>[] = [];
    const parts: Map<string, number>[] = [];
    for (let round = 1; round <= rounds; round++) {
      const ids = Array.from({ length: perRound }, (_, i) => `${label}-r${round}-${i}`);
      for (const phase of PHASES) {
        const now = Date.now();
        // Each incident's events a millisecond apart from the next one's, as no two real events
        // share an instant (equal keys would flatter the B-tree indexes on time: deduplicated).
        const events = ids.flatMap((id, n) => phase.events(id, n, n % 4 === 0, now - perRound + n));
        for (let i = 0; i < events.length; i += 500) {
          await post(svc.baseUrl, keys.writeToken, events.slice(i, i + 500));
        }
        posted += events.length;
        await settled(pool, posted);
      }
      if (values.vacuum) {
        // Plain VACUUM: dead rows become reusable space (the files do not shrink).
        await pool.query('VACUUM');
      }
      sizes.push(await printSizes(pool, round * perRound, say));
      parts.push(await relationSizes(pool));
    }
    if (sizes.length >= 2) {
      printMarginal(sizes.at(-2)!, sizes.at(-1)!, perRound, say);
      printMarginalParts(parts.at(-2)!, parts.at(-1)!, perRound, say);
    }
  } finally {
    await pool?.end();
    await svc.stop();
    await env.teardown();
  }
}

/**
 * The bench's Postgres cluster (port base + 20) and broker: its own (base + 10, bringUp) or, with
 * `brokers`, that one. Service ports from base + 30.
 */
async function ownInfrastructure(
  portBase: number,
  brokers: string | undefined,
  say: (line: string) => void,
): Promise<{
  pg: { url(db: string): string };
  broker: { brokers: string };
  nextPort(): number;
  teardown(): Promise<void>;
}> {
  if (brokers === undefined) return bringUp(portBase, say);
  const pg = await startPgCluster(portBase + 20);
  say(`own Postgres cluster on 127.0.0.1:${pg.port}; broker ${brokers}`);
  let port = portBase + 30;
  return { pg, broker: { brokers }, nextPort: () => port++, teardown: () => pg.destroy() };
}

async function post(baseUrl: string, token: string, events: unknown[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${baseUrl}/v1/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/cloudevents-batch+json',
      },
      body: JSON.stringify(events),
    });
    const text = await res.text();
    if (res.status === 202) return;
    if (res.status < 500 || attempt > 20) {
      throw new Error(`POST /v1/events: ${res.status} ${text.slice(0, 500)}`);
    }
    await sleep(500);
  }
}

/** Everything posted is projected, and nothing due is left to fire or to publish. */
async function settled(pool: Pool, events: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const { rows } = await pool.query<{ applied: string; due: string; unsent: string }>(
      `SELECT (SELECT count(*) FROM incident_events) AS applied,
              (SELECT count(*) FROM timers WHERE due_at <= now()) AS due,
              (SELECT count(*) FROM outbox_unsent) AS unsent`,
    );
    const r = rows[0]!;
    if (Number(r.applied) >= events && r.due === '0' && r.unsent === '0') return;
    if (Date.now() > deadline) throw new Error(`not settled after 300 s: ${JSON.stringify(r)}`);
    await sleep(300);
  }
}

/** Prints bytes per table per incident so far; returns bytes by table. */
async function printSizes(
  pool: Pool,
  incidents: number,
  say: (l: string) => void,
): Promise<Map<string, number>> {
  await pool.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
  const { rows } = await pool.query<{ table: string; bytes: string; live: string; dead: string }>(
    `SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes,
            coalesce(s.n_live_tup, 0) AS live, coalesce(s.n_dead_tup, 0) AS dead
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE n.nspname = 'public' AND c.relkind = 'r'
     ORDER BY pg_total_relation_size(c.oid) DESC`,
  );
  say(`\nafter ${incidents} incidents (load average ${loadAverage()}):`);
  say(
    `  ${'table'.padEnd(22)} ${'KB total'.padStart(10)} ${'B/incident'.padStart(11)} ${'live rows'.padStart(10)} ${'dead rows'.padStart(10)}`,
  );
  for (const r of rows) {
    const bytes = Number(r.bytes);
    say(
      `  ${r.table.padEnd(22)} ${kb(bytes).padStart(10)} ${(bytes / incidents).toFixed(0).padStart(11)} ` +
        `${r.live.padStart(10)} ${r.dead.padStart(10)}`,
    );
  }
  const { kept, stream } = keptAndStream(rows.map((r) => [r.table, Number(r.bytes)]));
  say(
    `  kept per incident (all but stream_events): ${kb(kept / incidents)} KB; ` +
      `stream_events (trimmed by age): ${kb(stream / incidents)} KB per incident of the retention window; ` +
      `all: ${kb((kept + stream) / incidents)} KB`,
  );
  return new Map(rows.map((r) => [r.table, Number(r.bytes)]));
}

/** Bytes the last round added per incident of that round, by table (the steady state). */
function printMarginal(
  before: Map<string, number>,
  after: Map<string, number>,
  perRound: number,
  say: (l: string) => void,
): void {
  const added = growth(before, after).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  say(`
marginal growth, last round (${perRound} incidents):`);
  say(`  ${'table'.padEnd(22)} ${'KB added'.padStart(10)} ${'B/incident'.padStart(11)}`);
  for (const [table, bytes] of added) {
    say(
      `  ${table.padEnd(22)} ${kb(bytes).padStart(10)} ${(bytes / perRound).toFixed(0).padStart(11)}`,
    );
  }
  const { kept, stream } = keptAndStream(added);
  say(
    `  kept per incident, marginal (all but stream_events): ${kb(kept / perRound)} KB; ` +
      `stream_events: ${kb(stream / perRound)} KB; all: ${kb((kept + stream) / perRound)} KB`,
  );
}

/** Bytes of each table's heap (with TOAST and maps) and of each of its indexes, `table index`. */
async function relationSizes(pool: Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ name: string; bytes: string }>(
    `SELECT c.relname || ' (heap)' AS name, pg_table_size(c.oid) AS bytes
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r'
     UNION ALL
     SELECT t.relname || ' ' || i.relname, pg_relation_size(i.oid)
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public'`,
  );
  return new Map(rows.map((r) => [r.name, Number(r.bytes)]));
}

/** The marginal growth of heaps and indexes, those of 20 bytes per incident or more. */
function printMarginalParts(
  before: Map<string, number>,
  after: Map<string, number>,
  perRound: number,
  say: (l: string) => void,
): void {
  const parts = growth(before, after)
    .map(([name, bytes]) => [name, bytes / perRound] as const)
    .filter(([, perIncident]) => perIncident >= 20)
    .sort((a, b) => a[0].localeCompare(b[0]));
  say(`
marginal growth by heap and index, B/incident (20 or more):`);
  for (const [name, perIncident] of parts) {
    say(`  ${name.padEnd(52)} ${perIncident.toFixed(0).padStart(6)}`);
  }
}

const kb = (bytes: number) => (bytes / 1024).toFixed(2);

/** Bytes each relation of `after` added since `before` ([name, bytes]; new relations count whole). */
function growth(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after].map(([name, bytes]) => [name, bytes - (before.get(name) ?? 0)]);
}

/** Bytes kept for good (every table but the live feed) and the live feed's (trimmed by age). */
function keptAndStream(sizes: [string, number][]): { kept: number; stream: number } {
  let kept = 0;
  let stream = 0;
  for (const [table, bytes] of sizes) {
    if (table === 'stream_events') stream += bytes;
    else kept += bytes;
  }
  return { kept, stream };
}
