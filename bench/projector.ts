/**
 * `npm run bench -- projector [--events 60000] [--rate 2000] [--seconds 15] [--only a,b]`
 *
 * Against the real local Kafka and Postgres (KAFKA_BROKERS, BENCH_DATABASE_URL; a database and
 * topics of its own, dropped afterwards), with every migration applied (the read API's stream
 * triggers included):
 *
 *   ceiling   the final rows of the same events written with batched INSERT … SELECT FROM
 *             unnest(...) (each incident once, no reads, no evaluation): what Postgres can take
 *   live      the projector draining a backlog of the events (6 partitions, default settings)
 *   rebuild   replaying the same topic into a shadow schema (npm run rebuild, dry run)
 *   latency   events at a steady rate → visible in the read model, i.e. to the commit of the
 *             projector transaction that applied them (a bench-only trigger NOTIFYs the event id
 *             at commit), with the service in its own process:
 *               latency-202          single-event POST /v1/events, from each 202 (api+projector)
 *               latency-produce-ack  a producer sending every 2 ms, from each ack (projector)
 *
 * Knobs: --only ceiling,live,rebuild,latency (or latency-202 / latency-produce-ack);
 * BENCH_LOG=debug prints per-batch phase timings; BENCH_NO_STREAM_TRIGGERS=1 disables the read
 * API's stream triggers (to see the projector's own cost); BENCH_KEEP_DB=1 keeps the database.
 *
 * Events arrive interleaved across incidents (all reports, then all acknowledgements, …), the
 * hard case: every batch touches thousands of incidents and re-reads their earlier events.
 * Numbers only; nothing is asserted (the machine is shared and noisy).
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ensureTopics } from '../scripts/kafka-local';
import { createPolicyStore } from '../src/application/policy-store';
import { loadConfig } from '../src/config';
import { toDomainEvent, type CloudEvent } from '../src/contracts/events';
import { DEFAULT_POLICY } from '../src/domain';
import { createApiKey } from '../src/http/api-keys';
import {
  createPool,
  ensureDatabase,
  quoteIdent,
  withTransaction,
  type Pool,
} from '../src/infra/db';
import { KafkaPublisher } from '../src/infra/kafka';
import { migrate } from '../src/infra/migrate';
import { createProjector, rebuildProjection } from '../src/projector';
import { projectIncident } from '../src/projector/project-incident';
import { execute } from '../src/projector/store';
import { timelineInsert, type TimelineRow } from '../src/tables/incident-events';
import { incidentsUpsert, type IncidentRow } from '../src/tables/incidents';
import { milestonesUpsert, type MilestoneRow } from '../src/tables/milestones';
import { timersUpsert, type TimerRow } from '../src/tables/timers';
import { eventDigest } from '../src/contracts/events';
import { RawHttpPool } from './raw-http';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const MIN = 60_000;
/** BENCH_LOG=debug prints the projector's per-batch phase timings (to stderr). */
const quiet = pino({ level: process.env.BENCH_LOG ?? 'silent' }, pino.destination(2));

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: 'string', default: '60000' },
      rate: { type: 'string', default: '2000' },
      seconds: { type: 'string', default: '15' },
      only: { type: 'string', default: 'ceiling,live,rebuild,latency' },
    },
  });
  const only = new Set(values.only.split(','));
  const total = Number(values.events);
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const tag = `${Date.now().toString(36)}`;
  const dbName = `sla_bench_projector_${tag}`;
  const url = new URL(BASE_URL);
  url.pathname = `/${dbName}`;
  await ensureDatabase(url.toString());
  const pool = createPool(url.toString(), { max: 12 });
  const kafka = new Kafka({
    clientId: 'bench-projector',
    brokers: BROKERS,
    logLevel: logLevel.NOTHING,
  });
  const topic = `bench.projector.${tag}.events`;
  const latencyTopic = `bench.projector.${tag}.latency`;
  const dlq = `bench.projector.${tag}.dlq`;
  const results: string[] = [];
  const say = (line: string) => {
    results.push(line);
    process.stdout.write(`${line}\n`);
  };
  try {
    await migrate(pool);
    if (process.env.BENCH_NO_STREAM_TRIGGERS) {
      // Experiment only: the projector without the read API's per-row stream triggers.
      await pool.query(
        'ALTER TABLE incidents DISABLE TRIGGER USER; ALTER TABLE milestones DISABLE TRIGGER USER',
      );
    }
    await ensureTopics(BROKERS, [
      { name: topic, partitions: 6 },
      { name: `${latencyTopic}.202`, partitions: 6 },
      { name: `${latencyTopic}.produce-ack`, partitions: 6 },
      { name: dlq, partitions: 1 },
    ]);
    const events = interleavedEvents(total);
    say(`projector bench: ${events.length} events, ${events.length / 6} incidents, 6 partitions`);

    // -- ceiling ------------------------------------------------------------------------------
    if (only.has('ceiling')) {
      const ceiling = await ceilingInsert(pool, events);
      say(
        `ceiling  (unnest inserts of the final rows)   ${fmt(events.length / ceiling)} events/s  (${ceiling.toFixed(2)} s)`,
      );
      await truncateProjection(pool);
    }

    // -- live ---------------------------------------------------------------------------------
    await produce(kafka, topic, events);
    if (only.has('live')) {
      const live = await drainLive(pool, kafka, topic, dlq, events.length);
      say(
        `live     (projector draining the backlog)      ${fmt(events.length / live)} events/s  (${live.toFixed(2)} s)   target ≥ 10,000`,
      );
    }

    // -- rebuild ------------------------------------------------------------------------------
    if (only.has('rebuild')) {
      const report = await rebuildProjection(
        {
          pool,
          kafka,
          log: quiet,
          clock: { now: () => Date.now() },
          policies: createPolicyStore(pool, DEFAULT_POLICY),
        },
        {
          groupId: `bench-${tag}`,
          topic,
          maxEventBytes: 256 * 1024,
          concurrency: 4,
          fetchMaxBytes: 8 * 1024 * 1024,
          dryRun: true,
        },
      );
      say(
        `rebuild  (replay into a shadow schema)         ${fmt(report.records / report.seconds)} events/s  (${report.seconds.toFixed(2)} s)   target ≥ 30,000`,
      );
    }

    // -- latency ------------------------------------------------------------------------------
    for (const source of ['202', 'produce-ack'] as const) {
      if (!only.has('latency') && !only.has(`latency-${source}`)) continue;
      await truncateProjection(pool);
      const lat = await latency(
        source,
        url.toString(),
        pool,
        kafka,
        `${latencyTopic}.${source}`,
        dlq,
        rate,
        seconds,
        tag,
      );
      const ack = source === '202' ? 'POST round trip' : 'produce ack';
      say(
        `latency  (${source.padEnd(11)} → read model at ${fmt(lat.achieved).trim()} events/s of ${rate} offered)  ` +
          `p50 ${lat.p50.toFixed(1)} ms  p99 ${lat.p99.toFixed(1)} ms  max ${lat.max.toFixed(1)} ms  (${lat.n} events)   target p99 ≤ 250 ms`,
      );
      say(
        `         (${ack}: p50 ${lat.ackP50.toFixed(1)} ms, p99 ${lat.ackP99.toFixed(1)} ms` +
          `${Object.keys(lat.errors).length ? `; errors ${JSON.stringify(lat.errors)}` : ''})`,
      );
    }
  } finally {
    await pool.end();
    const admin = kafka.admin();
    await admin.connect();
    await admin
      .deleteTopics({
        topics: [topic, `${latencyTopic}.202`, `${latencyTopic}.produce-ack`, dlq],
      })
      .catch(() => undefined);
    await admin.disconnect();
    // BENCH_KEEP_DB=1 keeps the database for EXPLAIN ANALYZE afterwards.
    const adminPool = createPool(BASE_URL, { max: 1 });
    if (process.env.BENCH_KEEP_DB) process.stdout.write(`kept database ${dbName}\n`);
    else
      await adminPool
        .query(`DROP DATABASE IF EXISTS ${quoteIdent(dbName)} WITH (FORCE)`)
        .catch(() => undefined);
    await adminPool.end();
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US').padStart(7);

/** Incidents of six events each, interleaved: all reports, then all acknowledgements, … */
function interleavedEvents(total: number): CloudEvent[] {
  const incidents = Math.ceil(total / 6);
  const t0 = Date.now() - 3 * 60 * MIN;
  const steps: [string, number, Record<string, unknown>][] = [
    ['incident.reported', 0, { severity: 'II', title: 'Switch down', site: 'DC-1' }],
    ['incident.acknowledged', 2, { by: 'desk' }],
    ['incident.dispatched', 3, { engineers: ['li'] }],
    ['incident.arrived', 12, { engineer: 'li' }],
    ['incident.diagnosed', 40, { cause: 'PSU' }],
    ['incident.resolved', 50, { resolution: 'replaced' }],
  ];
  const out: CloudEvent[] = [];
  for (const [type, minutes, data] of steps) {
    for (let i = 0; i < incidents; i++) {
      out.push({
        specversion: '1.0',
        id: randomUUID(),
        source: '/bench',
        type,
        subject: `INC-B-${i}`,
        time: new Date(t0 + i * 100 + minutes * MIN).toISOString(),
        data,
      } as CloudEvent);
    }
  }
  return out;
}

async function produce(kafka: Kafka, topic: string, events: CloudEvent[]): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  for (let i = 0; i < events.length; i += 2000) {
    await producer.send({
      topic,
      acks: -1,
      messages: events
        .slice(i, i + 2000)
        .map((e) => ({ key: e.subject, value: JSON.stringify(e) })),
    });
  }
  await producer.disconnect();
}

async function truncateProjection(pool: Pool): Promise<void> {
  await pool.query(
    'TRUNCATE incidents, milestones, incident_events, timers, projector_offsets, stream_events',
  );
}

/** The final rows of every incident, written once, in transactions of ~6,000 events. */
async function ceilingInsert(pool: Pool, events: CloudEvent[]): Promise<number> {
  const byIncident = new Map<string, CloudEvent[]>();
  for (const e of events) {
    const list = byIncident.get(e.subject);
    if (list) list.push(e);
    else byIncident.set(e.subject, [e]);
  }
  const chunks: {
    timeline: TimelineRow[];
    incidents: IncidentRow[];
    milestones: MilestoneRow[];
    timers: TimerRow[];
    ids: string[];
  }[] = [];
  let chunk = newChunk();
  for (const [id, list] of byIncident) {
    const out = projectIncident({
      incidentId: id,
      existing: [],
      added: list.map(toDomainEvent),
      prior: undefined,
      policies: DEFAULT_POLICY,
      fired: [],
    });
    chunk.ids.push(id);
    chunk.incidents.push(out.incident);
    chunk.milestones.push(...out.milestones);
    chunk.timers.push(...out.timers);
    list.forEach((e, i) => {
      chunk.timeline.push({
        incidentId: id,
        source: e.source,
        eventId: e.id,
        type: e.type,
        time: Date.parse(e.time),
        acceptedAt: Date.parse(e.time),
        data: e.data,
        partition: 0,
        offset: BigInt(i),
        digest: eventDigest(e),
      });
    });
    if (chunk.ids.length >= 1000) {
      chunks.push(chunk);
      chunk = newChunk();
    }
  }
  if (chunk.ids.length) chunks.push(chunk);
  // Evaluation done up front: only the writes are timed.
  const started = process.hrtime.bigint();
  for (const c of chunks) {
    await withTransaction(pool, async (client) => {
      await execute(client, timelineInsert(c.timeline));
      await execute(client, incidentsUpsert(c.incidents));
      await execute(client, milestonesUpsert(c.milestones));
      if (c.timers.length) await execute(client, timersUpsert(c.timers));
    });
  }
  return Number(process.hrtime.bigint() - started) / 1e9;

  function newChunk() {
    return {
      timeline: [] as TimelineRow[],
      incidents: [] as IncidentRow[],
      milestones: [] as MilestoneRow[],
      timers: [] as TimerRow[],
      ids: [] as string[],
    };
  }
}

/** Starts a projector on a backlog and times it from its first claim to the last event applied. */
async function drainLive(
  pool: Pool,
  kafka: Kafka,
  topic: string,
  dlq: string,
  total: number,
): Promise<number> {
  const config = loadConfig({});
  const publisher = new KafkaPublisher(kafka, 5_000);
  const projector = createProjector(
    {
      pool,
      kafka,
      publisher,
      log: quiet,
      clock: { now: () => Date.now() },
      metrics: new Registry(),
      policies: createPolicyStore(pool, DEFAULT_POLICY),
    },
    {
      groupId: `bench-${topic}`,
      topic,
      dlqTopic: dlq,
      topics: { warnings: 'bench.w', escalations: 'bench.e' },
      concurrency: config.PROJECTOR_CONCURRENCY,
      fetchMaxBytes: config.PROJECTOR_FETCH_MAX_BYTES,
      maxEventBytes: config.PROJECTOR_MAX_EVENT_BYTES,
    },
  );
  await projector.start();
  await projector.assigned;
  const started = process.hrtime.bigint();
  for (;;) {
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM incident_events');
    if (Number(rows[0]!.n) >= total) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  await projector.stop();
  await publisher.close();
  return elapsed;
}

interface LatencyResult {
  n: number;
  achieved: number;
  p50: number;
  p99: number;
  max: number;
  /** Time to the acknowledgement itself (POST round trip, or producer send), p50/p99. */
  ackP50: number;
  ackP99: number;
  errors: Record<string, number>;
}

type Source = '202' | 'produce-ack';

/**
 * The service in its own process, as deployed (`api,projector` roles for '202', `projector` for
 * 'produce-ack'): the load generator and the NOTIFY listener here must not share an event loop
 * with the projector they measure. Events at `rate` per second for `seconds`, single-event POSTs
 * (or producer sends every 2 ms); per event, acknowledgement → the NOTIFY a bench-only trigger
 * on incident_events sends when the projector's transaction commits.
 */
async function latency(
  source: Source,
  dbUrl: string,
  pool: Pool,
  kafka: Kafka,
  topic: string,
  dlq: string,
  rate: number,
  seconds: number,
  tag: string,
): Promise<LatencyResult> {
  await pool.query(`
    CREATE OR REPLACE FUNCTION bench_applied_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('bench_applied', NEW.event_id); RETURN NULL; END $$;
    DROP TRIGGER IF EXISTS bench_applied ON incident_events;
    CREATE TRIGGER bench_applied AFTER INSERT ON incident_events
      FOR EACH ROW EXECUTE FUNCTION bench_applied_notify();`);
  const key = createApiKey(['events:write']);
  const port = await freePort();
  const group = `bench-latency-${source}-${tag}`;
  const service = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(__dirname, '..', 'src', 'main.ts')],
    {
      env: {
        ...process.env,
        DATABASE_URL: dbUrl,
        KAFKA_BROKERS: BROKERS.join(','),
        KAFKA_TOPIC_EVENTS: topic,
        KAFKA_TOPIC_DLQ: dlq,
        PROJECTOR_GROUP_ID: group,
        ROLES: source === '202' ? 'api,projector' : 'projector',
        HTTP_PORT: String(port),
        API_KEYS: key.configEntry,
        RATE_LIMIT_MAX: '0',
        LOG_LEVEL: process.env.BENCH_LOG ?? 'warn',
      },
      // BENCH_LOG=debug: the service's log (per-batch timings) goes to our stderr.
      stdio: ['ignore', process.env.BENCH_LOG ? 2 : 'ignore', 'inherit'],
    },
  );
  const exited = new Promise((resolve) => service.once('exit', resolve));
  const listener = new Client({ connectionString: dbUrl });
  const pool64 = new RawHttpPool(port, 64);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  try {
    await waitReady('127.0.0.1', port);
    // Ready means Kafka and Postgres answer; the projector must also hold its partitions.
    for (const deadline = Date.now() + 60_000; ;) {
      const { rows } = await pool.query<{ n: string }>(
        'SELECT count(*) AS n FROM projector_offsets WHERE group_id = $1',
        [group],
      );
      if (Number(rows[0]!.n) >= 6) break;
      if (Date.now() > deadline) throw new Error('the projector did not claim its partitions');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await listener.connect();
    await listener.query('LISTEN bench_applied');
    const visible = new Map<string, number>();
    listener.on('notification', (n) => {
      if (n.payload) visible.set(n.payload, performance.now());
    });
    if (source === 'produce-ack') await producer.connect();

    const acked = new Map<string, number>();
    const ackTimes: number[] = [];
    const errors: Record<string, number> = {};
    const fail = (what: string) => void (errors[what] = (errors[what] ?? 0) + 1);
    const inflight: Promise<void>[] = [];
    const nextEvent = incidentTraffic(tag);
    const started = performance.now();
    const end = started + seconds * 1000;
    let sent = 0;
    // Pace by the clock: at each tick send what the rate allows so far (no drift).
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      const events: CloudEvent[] = [];
      for (; sent < due; sent++) events.push(nextEvent());
      const at = performance.now();
      const settle = (ids: string[]) => {
        const now = performance.now();
        for (const id of ids) {
          acked.set(id, now);
          ackTimes.push(now - at);
        }
      };
      if (source === '202') {
        for (const event of events) {
          inflight.push(
            post(pool64, key.token, JSON.stringify(event)).then(
              (status) => (status === 202 ? settle([event.id]) : fail(String(status))),
              () => fail('network'),
            ),
          );
        }
      } else if (events.length > 0) {
        inflight.push(
          producer
            .send({
              topic,
              acks: -1,
              messages: events.map((e) => ({ key: e.subject, value: JSON.stringify(e) })),
            })
            .then(
              () => settle(events.map((e) => e.id)),
              () => fail('produce'),
            ),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.all(inflight);
    const offeredMs = performance.now() - started;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && [...acked.keys()].some((id) => !visible.has(id))) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const lat = [...acked]
      .map(([id, t]) => Math.max(0, (visible.get(id) ?? Number.POSITIVE_INFINITY) - t))
      .sort((a, b) => a - b);
    ackTimes.sort((a, b) => a - b);
    const q = (xs: number[], p: number) =>
      xs[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;
    return {
      n: lat.length,
      achieved: acked.size / (offeredMs / 1000),
      p50: q(lat, 0.5),
      p99: q(lat, 0.99),
      max: lat[lat.length - 1] ?? Number.NaN,
      ackP50: q(ackTimes, 0.5),
      ackP99: q(ackTimes, 0.99),
      errors,
    };
  } finally {
    await listener.end().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    pool64.close();
    service.kill('SIGTERM');
    await exited;
  }
}

/** Incidents live for six events (500 at a time, events in random interleaving). */
function incidentTraffic(tag: string): () => CloudEvent {
  let incidentSeq = 0;
  const running: { id: string; step: number }[] = [];
  const types = [
    'incident.reported',
    'incident.acknowledged',
    'incident.dispatched',
    'incident.arrived',
    'incident.diagnosed',
    'incident.resolved',
  ];
  return () => {
    if (running.length < 500) running.push({ id: `INC-L-${tag}-${(incidentSeq += 1)}`, step: 0 });
    const slot = Math.floor(Math.random() * running.length);
    const inc = running[slot]!;
    const type = types[inc.step]!;
    const data = type === 'incident.reported' ? { severity: 'II', title: 'Latency probe' } : {};
    inc.step += 1;
    if (inc.step === types.length) running.splice(slot, 1);
    return {
      specversion: '1.0',
      id: randomUUID(),
      source: '/bench',
      type,
      subject: inc.id,
      time: new Date(Date.now() - 1000).toISOString(),
      data,
    } as CloudEvent;
  };
}

function post(pool: RawHttpPool, token: string, body: string): Promise<number> {
  return pool.request({
    method: 'POST',
    path: '/v1/events',
    headers: { 'content-type': 'application/cloudevents+json', authorization: `Bearer ${token}` },
    body,
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls /readyz (Kafka and Postgres reachable) for up to a minute. */
async function waitReady(host: string, port: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      http
        .get({ host, port, path: '/readyz' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', () => resolve(0));
    });
    if (status === 200) return;
    if (Date.now() > deadline) throw new Error('the service did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
