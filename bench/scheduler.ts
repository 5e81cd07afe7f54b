/**
 * `npm run bench -- scheduler [options]`: how late the timer runner + outbox relay publish, and the
 * same timers as graphile-worker jobs for comparison (issue 7 §6).
 *
 *   --sizes 10000,100000,1000000   active timers per lateness run (default)
 *   --rate 1000                    fires per second during the measured window
 *   --seconds 20                   length of the measured window (≤ size / rate timers fire)
 *   --burst 100000                 timers due in the same second for the drain run (0: skip)
 *   --peer default,200             graphile-worker poll intervals to compare ('': skip)
 *   --peer-concurrency 10          graphile-worker concurrency (its default, 1, cannot keep up)
 *   --quick                        = --sizes 10000,100000 --seconds 8 --burst 20000
 *
 * Lateness = Kafka acknowledgement time minus the timer's due time (database clock; the process
 * clock is corrected by the measured skew). "early" counts acknowledgements before the due time.
 * Every system runs in a child process of its own (memory is that process's peak RSS), against
 * a database of its own, publishing through the same EventPublisher (KafkaPublisher, acks=all).
 *
 * Load shape: `size` timers are active; `rate × seconds` of them come due during the window, one
 * per 1/rate s, each an open incident whose breach emits one event (escalation off, so one event
 * per timer for both systems); the others are due 10 minutes after the window or later (they make
 * the tables and indexes big, as a backlog of open incidents does, and must cost nothing until due).
 *
 * Protocol: everything is seeded due two hours ahead (seeding 100,000 incidents takes longer than
 * any lead time), the system starts and reports ready, then the window is re-planned to start
 * LEAD_MS later in one transaction (timers and milestones move together, as the projector does;
 * graphile-worker jobs get a new run_at). So the measured timers come due in a running system.
 */
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import {
  Logger as GraphileLogger,
  run as runGraphileWorker,
  runMigrations as runGraphileMigrations,
} from 'graphile-worker';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../src/config';
import { buildSlaBreached } from '../src/contracts/sla-events';
import { systemClock } from '../src/infra/clock';
import {
  createPool,
  ensureDatabase,
  quoteIdent,
  type Pool,
  type PoolClient,
} from '../src/infra/db';
import {
  createKafka,
  KafkaPublisher,
  type EventPublisher,
  type OutgoingRecord,
} from '../src/infra/kafka';
import { createLogger } from '../src/infra/logger';
import { createMetricsRegistry } from '../src/infra/metrics';
import { migrate } from '../src/infra/migrate';
import { measureClockSkew } from '../src/scheduler/clock-skew';
import { createSchedulerServices } from '../src/scheduler';
import { PgListener } from '../src/infra/pg-listener';

const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
/** From re-planning the window to its first due timer. */
const LEAD_MS = 3000;
/** Where everything is seeded before the system starts (re-planned from there). */
const PARKED_MS = 2 * 3600_000;

type System =
  { kind: 'ours' } | { kind: 'graphile'; pollMs: number | 'default'; concurrency: number };

interface Stats {
  count: number;
  p50: number;
  p99: number;
  max: number;
  early: number;
  /** Last acknowledgement minus the first due time (the burst's drain time). */
  spanMs: number;
  rssPeakMb: number;
  heapPeakMb: number;
  skewMs: number;
  timedOut: boolean;
}

// ---------------------------------------------------------------------------------------------
// Parent: set up, seed, run each system in a child, print a table.

export async function run(args: string[]): Promise<void> {
  const opts = parseArgs(args);
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    process.stdout.write(`${s}\n`);
  };
  say(
    `scheduler bench: sizes ${opts.sizes.join(', ')}; ${opts.rate}/s for ${opts.seconds} s; burst ${opts.burst}; ` +
      `peer graphile-worker 0.17.3 at poll ${opts.peer.join(', ') || '(skipped)'} ms ` +
      `(concurrency ${opts.peerConcurrency})`,
  );
  const systems: System[] = [
    { kind: 'ours' },
    ...opts.peer.map((p): System => ({
      kind: 'graphile',
      pollMs: p,
      concurrency: opts.peerConcurrency,
    })),
  ];
  const header = `${'system'.padEnd(30)} | active    | fired  | p50 ms | p99 ms | max ms | early | rss MB`;
  say(`\nLateness (ack − due) at ${opts.rate} fires/s\n${header}`);
  for (const size of opts.sizes) {
    for (const system of systems) {
      const window = Math.min(size, opts.rate * opts.seconds);
      const stats = await scenario(system, {
        active: size,
        due: window,
        stepMs: 1000 / opts.rate,
        timeoutMs: LEAD_MS + (window / opts.rate) * 1000 + 60_000,
      });
      say(row(system, size, stats));
    }
  }
  if (opts.burst > 0) {
    say(
      `\nBurst: ${opts.burst} timers due within the same second\n${header.replace('active   ', 'drain ms ')}`,
    );
    for (const system of systems) {
      const stats = await scenario(system, {
        active: opts.burst,
        due: opts.burst,
        stepMs: 1000 / opts.burst,
        timeoutMs: 120_000,
      });
      say(row(system, stats.spanMs, stats));
    }
  }
  say(`\n(${new Date().toISOString()}; machine shared with other work: numbers are noisy)`);
}

function parseArgs(args: string[]) {
  const get = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const quick = args.includes('--quick');
  const list = (s: string) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  return {
    sizes: list(get('sizes') ?? (quick ? '10000,100000' : '10000,100000,1000000')).map(Number),
    rate: Number(get('rate') ?? 1000),
    seconds: Number(get('seconds') ?? (quick ? 8 : 20)),
    burst: Number(get('burst') ?? (quick ? 20_000 : 100_000)),
    /** graphile-worker's own default is 1, which cannot keep up with 1,000 jobs/s at all. */
    peerConcurrency: Number(get('peer-concurrency') ?? 10),
    peer: list(get('peer') ?? 'default,200').map((p) =>
      p === 'default' ? 'default' : Number(p),
    ) as (number | 'default')[],
  };
}

function label(system: System): string {
  return system.kind === 'ours'
    ? 'sla-timer scheduler'
    : `graphile-worker @${system.pollMs === 'default' ? '2000(default)' : system.pollMs}`;
}

function row(system: System, first: number, s: Stats): string {
  const n = (v: number, w: number) => String(Math.round(v)).padStart(w);
  return (
    `${label(system).padEnd(30)} | ${n(first, 9)} | ${n(s.count, 6)} | ${n(s.p50, 6)} | ${n(s.p99, 6)} | ` +
    `${n(s.max, 6)} | ${n(s.early, 5)} | ${n(s.rssPeakMb, 6)}${s.timedOut ? '  (timed out: not all published)' : ''}`
  );
}

interface Load {
  /** Active timers in total. */
  active: number;
  /** Of which due during the window, stepMs apart. */
  due: number;
  stepMs: number;
  timeoutMs: number;
}

async function scenario(system: System, load: Load): Promise<Stats> {
  // BENCH_DB_PREFIX: on a shared Postgres, each user's bench drops and creates only its own databases.
  const prefix = process.env.BENCH_DB_PREFIX ?? 'sla_bench';
  const dbName = system.kind === 'ours' ? `${prefix}_scheduler` : `${prefix}_graphile`;
  const url = await freshDatabase(dbName);
  const topic = `bench.scheduler.${Date.now().toString(36)}`;
  await createTopic(topic);
  const pool = createPool(url, { max: 2, statement_timeout: 0 });
  try {
    const parked = Date.now() + PARKED_MS;
    const backgroundFrom = parked + load.due * load.stepMs + 600_000;
    if (system.kind === 'ours') {
      await migrate(pool);
      await seedOurs(pool, load, parked, backgroundFrom);
    } else {
      await runGraphileMigrations({ connectionString: url, logger: quietGraphileLogger() });
      await seedGraphile(pool, load.active - load.due, backgroundFrom, 1);
      await seedGraphile(pool, load.due, parked, load.stepMs);
    }
    await pool.query('ANALYZE');
    const child = startChild(system, { url, topic, expect: load.due, timeoutMs: load.timeoutMs });
    await child.ready;
    const delta = Date.now() + LEAD_MS - parked;
    if (system.kind === 'ours') await replanOurs(pool, delta, backgroundFrom);
    else await replanGraphile(pool, delta, backgroundFrom);
    const stats = await child.result;
    if (system.kind === 'ours') {
      // The database's own record: nothing fired before its due time.
      const { rows } = await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM timer_fires WHERE fired_at < due_at',
      );
      stats.early += Number(rows[0]!.n);
    }
    return stats;
  } finally {
    await pool.end();
    await deleteTopic(topic).catch(() => undefined);
  }
}

async function freshDatabase(name: string): Promise<string> {
  const admin = createPool(BASE_URL, { max: 1 });
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const url = new URL(BASE_URL);
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  return url.toString();
}

/**
 * Seeds with triggers off (session_replication_role = replica; the bench connects as a superuser):
 * the read model's stream triggers would make seeding 100,000 incidents take minutes, and no
 * scheduler runs yet to be notified.
 */
async function withoutTriggers(pool: Pool, fn: (c: PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SET session_replication_role = replica');
    await fn(client);
  } finally {
    await client.query('RESET session_replication_role').catch(() => undefined);
    client.release();
  }
}

/**
 * The window: open incidents with a `response` milestone (no escalation) and its breach timer,
 * due from `firstDueMs`, stepMs apart. The background: timers only, 1 ms apart from
 * `backgroundFrom` (no incident rows: they never come due during the run).
 */
async function seedOurs(
  pool: Pool,
  load: Load,
  firstDueMs: number,
  backgroundFrom: number,
): Promise<void> {
  await withoutTriggers(pool, async (c) => {
    const chunk = 250_000;
    const background = load.active - load.due;
    for (let from = 0; from < background; from += chunk) {
      await c.query(
        `INSERT INTO timers (timer_key, generation, incident_id, milestone, cycle, kind, due_at, deadline)
         SELECT 'BG-' || n || '/response/0/breach', $3::bigint + n, 'BG-' || n, 'response', 0, 'breach',
                to_timestamp(($3::bigint + n) / 1000.0), to_timestamp(($3::bigint + n) / 1000.0)
         FROM generate_series($1::int, $2::int) AS n`,
        [from, Math.min(background, from + chunk) - 1, backgroundFrom],
      );
    }
    await c.query(
      `WITH s AS (
         SELECT n, 'INC-' || n AS id, to_timestamp(($2::float8 + n * $3::float8) / 1000.0) AS due
         FROM generate_series(0, $1::int - 1) AS n
       ), i AS (
         INSERT INTO incidents (incident_id, status, severity, title, site, assignee, tier, reported_at)
         SELECT id, 'open', 'I', 'Incident ' || n, 'site-' || (n % 7), 'engineer-' || (n % 13), 1, now()
         FROM s
       ), m AS (
         INSERT INTO milestones (incident_id, milestone, cycle, state, start_at, due_at, escalates_to_tier)
         SELECT id, 'response', 0, 'pending', due - interval '5 minutes', due, NULL FROM s
       )
       INSERT INTO timers (timer_key, generation, incident_id, milestone, cycle, kind, due_at, deadline)
       SELECT id || '/response/0/breach', round(extract(epoch FROM due) * 1000)::bigint, id, 'response',
              0, 'breach', due, due
       FROM s`,
      [load.due, firstDueMs, load.stepMs],
    );
  });
}

/**
 * Re-plans the window by `deltaMs` the way the projector would: milestones and timers in one
 * transaction, generation = new due ms. The milestone update skips the read model's per-row
 * stream triggers (bench setup, not the system under test); the timers update fires the
 * scheduler's NOTIFY trigger as in production.
 */
async function replanOurs(pool: Pool, deltaMs: number, backgroundFrom: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL session_replication_role = replica');
    await client.query(
      `UPDATE milestones SET due_at = due_at + make_interval(secs => $1::float8 / 1000),
                             start_at = start_at + make_interval(secs => $1::float8 / 1000)`,
      [deltaMs],
    );
    await client.query('SET LOCAL session_replication_role = origin');
    await client.query(
      `UPDATE timers SET due_at = due_at + make_interval(secs => $1::float8 / 1000),
                         deadline = deadline + make_interval(secs => $1::float8 / 1000),
                         generation = generation + round($1::float8)::bigint
       WHERE due_at < to_timestamp($2::float8 / 1000)`,
      [deltaMs, backgroundFrom],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** The same timers as graphile-worker `runAt` jobs (add_jobs with job_spec rows). */
async function seedGraphile(
  pool: Pool,
  count: number,
  firstDueMs: number,
  stepMs: number,
): Promise<void> {
  const chunk = 100_000;
  for (let from = 0; from < count; from += chunk) {
    await pool.query(
      `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
         SELECT ROW('fire', json_build_object('incidentId', 'INC-' || n), NULL,
                    to_timestamp(($3::float8 + n * $4::float8) / 1000.0), 1, NULL, 0, NULL
                   )::graphile_worker.job_spec
         FROM generate_series($1::int, $2::int) AS n))`,
      [from, Math.min(count, from + chunk) - 1, firstDueMs, stepMs],
    );
  }
}

/** Re-plans the window's jobs (new run_at); graphile-worker finds them by polling, as designed. */
async function replanGraphile(pool: Pool, deltaMs: number, backgroundFrom: number): Promise<void> {
  await pool.query(
    `UPDATE graphile_worker._private_jobs SET run_at = run_at + make_interval(secs => $1::float8 / 1000)
     WHERE run_at < to_timestamp($2::float8 / 1000)`,
    [deltaMs, backgroundFrom],
  );
}

async function createTopic(topic: string): Promise<void> {
  const admin = new Kafka({
    clientId: 'bench-admin',
    brokers: BROKERS,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

async function deleteTopic(topic: string): Promise<void> {
  const admin = new Kafka({
    clientId: 'bench-admin',
    brokers: BROKERS,
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
}

interface ChildParams {
  url: string;
  topic: string;
  expect: number;
  /** From the child's start until it gives up waiting for `expect` acknowledgements. */
  timeoutMs: number;
}

function startChild(
  system: System,
  p: ChildParams,
): { ready: Promise<void>; result: Promise<Stats> } {
  const child = spawn(process.execPath, ['--import', 'tsx', __filename, '--child'], {
    env: {
      ...process.env,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      BENCH_CHILD: JSON.stringify({ system, ...p }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<Stats>((resolve, reject) => {
    let stats: Stats | undefined;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const msg = JSON.parse(line) as Stats | { ready: true };
        if ('ready' in msg) onReady();
        else stats = msg;
      } catch {
        process.stdout.write(`  [child] ${line}\n`);
      }
    });
    child.once('close', (code) =>
      stats
        ? resolve(stats)
        : reject(new Error(`bench child (${label(system)}) exited ${code} without result`)),
    );
  });
  void result.catch(() => onReady());
  return { ready, result };
}

// ---------------------------------------------------------------------------------------------
// Child: run one system until `expect` events are acknowledged, then report.

class Recorder {
  readonly lateness: number[] = [];
  lastAck = 0;
  firstDue = Number.POSITIVE_INFINITY;
  private rssPeak = 0;
  private heapPeak = 0;
  private readonly sampler = setInterval(() => this.sample(), 100);
  private done!: () => void;
  readonly finished = new Promise<void>((resolve) => (this.done = resolve));

  constructor(
    private readonly expect: number,
    /** Database clock minus process clock. */
    private readonly offsetMs: number,
  ) {}

  ack(dueMs: number): void {
    const ackDb = Date.now() + this.offsetMs;
    this.lateness.push(ackDb - dueMs);
    this.lastAck = ackDb;
    this.firstDue = Math.min(this.firstDue, dueMs);
    if (this.lateness.length >= this.expect) this.done();
  }

  sample(): void {
    const m = process.memoryUsage();
    this.rssPeak = Math.max(this.rssPeak, m.rss);
    this.heapPeak = Math.max(this.heapPeak, m.heapUsed);
  }

  stats(timedOut: boolean): Stats {
    clearInterval(this.sampler);
    this.sample();
    const sorted = [...this.lateness].sort((a, b) => a - b);
    const at = (q: number) =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
    return {
      count: sorted.length,
      p50: at(0.5),
      p99: at(0.99),
      max: sorted[sorted.length - 1] ?? NaN,
      early: sorted.filter((l) => l < 0).length,
      spanMs: this.lastAck - this.firstDue,
      rssPeakMb: this.rssPeak / 2 ** 20,
      heapPeakMb: this.heapPeak / 2 ** 20,
      skewMs: this.offsetMs,
      timedOut,
    };
  }
}

/** The publisher port with a stopwatch: each acknowledged record's due time is taken from its event. */
class RecordingPublisher implements EventPublisher {
  constructor(
    private readonly inner: EventPublisher,
    private readonly recorder: Recorder,
  ) {}

  async publish(
    topic: string,
    records: OutgoingRecord[],
    options?: { timeoutMs?: number },
  ): Promise<void> {
    await this.inner.publish(topic, records, options);
    for (const r of records) {
      const event = JSON.parse(String(r.value)) as {
        type: string;
        data: { dueAt?: string; warnAt?: string };
      };
      const due = event.type === 'sla.warning' ? event.data.warnAt : event.data.dueAt;
      if (due) this.recorder.ack(Date.parse(due));
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

async function child(): Promise<void> {
  const p = JSON.parse(process.env.BENCH_CHILD!) as ChildParams & { system: System };
  const log = createLogger('warn');
  const pool = createPool(p.url, { max: 10 });
  const { offsetMs } = await measureClockSkew(pool, systemClock);
  const recorder = new Recorder(p.expect, offsetMs);
  const kafka = createKafka({ brokers: BROKERS, clientId: 'bench-scheduler' }, log);
  const publisher = new KafkaPublisher(kafka, 5000);
  let stop: () => Promise<void>;

  if (p.system.kind === 'ours') {
    const config = loadConfig({
      DATABASE_URL: p.url,
      KAFKA_BROKERS: BROKERS.join(','),
      KAFKA_TOPIC_WARNINGS: p.topic,
      KAFKA_TOPIC_ESCALATIONS: p.topic,
      LOG_LEVEL: 'warn',
    });
    const { services } = createSchedulerServices({
      config,
      log,
      clock: systemClock,
      pool,
      publisher: new RecordingPublisher(publisher, recorder),
      metrics: createMetricsRegistry(),
      listener: new PgListener(pool, log),
    });
    for (const s of services) await s.start();
    stop = async () => {
      for (const s of [...services].reverse()) await s.stop();
    };
  } else {
    const pollMs = p.system.pollMs;
    const runner = await runGraphileWorker({
      connectionString: p.url,
      concurrency: p.system.concurrency,
      maxPoolSize: p.system.concurrency + 1,
      ...(pollMs === 'default' ? {} : { pollInterval: pollMs }),
      noHandleSignals: true,
      logger: quietGraphileLogger(),
      taskList: {
        // The same work as the outbox relay per event: build the SLA event, publish, await the ack.
        fire: async (payload, helpers) => {
          const { incidentId } = payload as { incidentId: string };
          // The job's own due time (run_at), as re-planned.
          const dueMs = new Date(helpers.job.run_at).getTime();
          const event = buildSlaBreached(
            {
              incidentId,
              title: 'Incident',
              severity: 'I',
              site: 'site',
              tier: 1,
              assignee: 'engineer',
            },
            {
              timerKey: `${incidentId}/response/0/breach`,
              generation: dueMs,
              milestone: 'response',
              cycle: 0,
              dueAt: dueMs,
              deadline: dueMs,
              firedAt: Date.now() + offsetMs,
            },
          );
          await publisher.publish(p.topic, [{ key: incidentId, value: JSON.stringify(event) }]);
          recorder.ack(dueMs);
        },
      },
    });
    stop = () => runner.stop();
  }

  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    recorder.finished.then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), p.timeoutMs))),
  ]);
  clearTimeout(timer);
  const stats = recorder.stats(timedOut);
  await stop();
  await publisher.close().catch(() => undefined);
  await pool.end();
  process.stdout.write(`${JSON.stringify(stats)}\n`, () => process.exit(0));
}

function quietGraphileLogger(): GraphileLogger {
  return new GraphileLogger(() => (level, message) => {
    if (String(level) === 'error') process.stderr.write(`graphile-worker: ${message}\n`);
  });
}

if (require.main === module && process.argv.includes('--child')) {
  child().catch((err: unknown) => {
    process.stderr.write(`bench child failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
