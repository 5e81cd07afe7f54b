/**
 * `npm run bench -- ingest [--seconds 10] [--concurrency 64] [--rate 2000] [--batch 500]
 *   [--only raw,single,paced,http,batch]`
 *
 * POST /v1/events against the real broker (KAFKA_BROKERS, default 127.0.0.1:9092; start it with
 * `npm run kafka -- start`), on a fresh 6-partition topic that is deleted afterwards:
 *   1. raw kafkajs producer (idempotent, acks=all, batches of --batch): the ceiling;
 *   2. single-event POSTs, closed loop with --concurrency requests in flight: max events/s;
 *   3. single-event POSTs at a fixed --rate (open loop; latency counted from the planned send
 *      time, so a stall is not hidden by sending less): p50/p99;
 *   4. (diagnostic) single-event POSTs to a server whose publisher acknowledges at once: the
 *      HTTP + auth + validation ceiling of this machine, Kafka excluded;
 *   5. batch POSTs of --batch events, 4 in flight: events/s, and the share of the raw ceiling.
 * The server runs in a child process (the same api-role code as the service: auth, rate limit off,
 * load shedding on, the group-commit publisher, a KafkaPublisher), so that the load generator does
 * not share its event loop. The load comes from ./raw-http.ts (keep-alive sockets, one request at a
 * time each): node's http client cost about as much CPU per request as the server, and on two cores
 * that made the benchmark measure its own client. Targets (issue 5): single ≥ 5,000/s, p99 ≤ 50 ms at 2,000/s, batches
 * ≥ 20,000 events/s and ≥ 50 % of the raw producer.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { loadConfig } from '../src/config';
import { CoalescingPublisher } from '../src/application/coalescing-publisher';
import { registerApiFoundation, registerIngestApi } from '../src/http/api';
import { createApiKey } from '../src/http/api-keys';
import { buildServer } from '../src/http/server';
import { systemClock } from '../src/infra/clock';
import { createKafka, KafkaPublisher, type EventPublisher } from '../src/infra/kafka';
import { createLogger } from '../src/infra/logger';
import { createMetricsRegistry } from '../src/infra/metrics';
import { RawHttpPool } from './raw-http';

interface Options {
  seconds: number;
  concurrency: number;
  rate: number;
  batch: number;
}

export async function run(args: string[]): Promise<void> {
  if (args[0] === '--serve') return serve(args[1]!, args[2]!, args[3] === '--no-kafka');
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '10' },
      concurrency: { type: 'string', default: '64' },
      rate: { type: 'string', default: '2000' },
      batch: { type: 'string', default: '500' },
      only: { type: 'string' },
    },
  });
  const want = (name: string) => !values.only || values.only.split(',').includes(name);
  const options: Options = {
    seconds: Number(values.seconds),
    concurrency: Number(values.concurrency),
    rate: Number(values.rate),
    batch: Number(values.batch),
  };
  const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const topic = `bench.ingest.${Date.now().toString(36)}`;
  const kafka = new Kafka({ clientId: 'bench-ingest', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
  say(
    `broker ${brokers.join(',')}, topic ${topic} (6 partitions), ${options.seconds} s per scenario`,
  );
  // The numbers mean little without the machine's load: print it (os.loadavg, 1 min).
  say(`${os.cpus().length} cores, load average ${os.loadavg()[0]!.toFixed(1)} before`);

  const server = await startServer(topic, brokers);
  try {
    let raw = NaN;
    if (want('raw')) {
      raw = await rawProducer(kafka, topic, options);
      say(`raw kafkajs producer, batches of ${options.batch}, 4 in flight: ${fmt(raw)} events/s`);
    }
    await closedLoop(server, options, 1, Math.min(2, options.seconds)); // warm-up (JIT, sockets)
    if (want('single')) {
      const single = await closedLoop(server, options, 1, options.seconds);
      say(`single-event POSTs, ${options.concurrency} in flight: ${report(single)}`);
    }
    if (want('paced')) {
      const paced = await openLoop(server, options);
      say(`single-event POSTs at ${options.rate}/s (open loop): ${report(paced)}`);
    }
    if (want('http')) {
      // Not a target: the ceiling of the HTTP side on this machine, for reading the numbers above.
      const noKafka = await startServer(topic, brokers, true);
      try {
        await closedLoop(noKafka, options, 1, Math.min(2, options.seconds));
        const http = await closedLoop(noKafka, options, 1, options.seconds);
        say(`single-event POSTs without Kafka (HTTP + auth + validation only): ${report(http)}`);
      } finally {
        noKafka.pool.close();
        noKafka.child.kill('SIGTERM');
      }
    }
    if (want('batch')) {
      const batches = await closedLoop(
        server,
        { ...options, concurrency: 4 },
        options.batch,
        options.seconds,
      );
      const share = Number.isNaN(raw)
        ? ''
        : `; ${Math.round((100 * batches.eventsPerSecond) / raw)} % of the raw producer`;
      say(`batch POSTs of ${options.batch}, 4 in flight: ${report(batches)}${share}`);
    }
    say(`load average ${os.loadavg()[0]!.toFixed(1)} after`);
  } finally {
    server.pool.close();
    server.child.kill('SIGTERM');
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------
// The server (child process)

async function serve(topic: string, brokers: string, noKafka: boolean): Promise<void> {
  const key = createApiKey(['events:write'], 'bench');
  const config = loadConfig({
    API_KEYS: key.configEntry,
    KAFKA_BROKERS: brokers,
    KAFKA_TOPIC_EVENTS: topic,
    RATE_LIMIT_MAX: '0', // the benchmark is one key sending as fast as it can
    INGEST_MAX_BATCH: '10000',
    INGEST_BODY_LIMIT_BYTES: String(16 * 1024 * 1024),
  });
  const log = createLogger('warn');
  const kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: 'bench-ingest-api' }, log);
  // --no-kafka: every publish succeeds at once, which measures HTTP + auth + validation alone.
  const publisher: EventPublisher = noKafka
    ? { publish: async () => undefined, close: async () => undefined }
    : new KafkaPublisher(kafka, config.KAFKA_PRODUCE_TIMEOUT_MS);
  const metrics = createMetricsRegistry();
  const app = buildServer({ logger: log, metrics, readiness: [] });
  const context = { config, log, metrics, clock: systemClock, publisher };
  await registerApiFoundation(app, context);
  // As the composition root wires it (registerApiRole): concurrent POSTs share produce calls.
  const ingestPublisher = new CoalescingPublisher(publisher, {
    defaultTimeoutMs: config.INGEST_PUBLISH_TIMEOUT_MS,
  });
  app.addHook('onClose', () => ingestPublisher.close());
  await registerIngestApi(app, { ...context, publisher: ingestPublisher });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  process.send?.({ address, token: key.token });
  process.once('SIGTERM', () => {
    void app
      .close()
      .then(() => publisher.close())
      .finally(() => process.exit(0));
  });
  await new Promise(() => undefined); // until SIGTERM
}

interface Server {
  child: ChildProcess;
  pool: RawHttpPool;
  authorization: string;
}

async function startServer(topic: string, brokers: string[], noKafka = false): Promise<Server> {
  const child = fork(
    require.resolve('./index.ts'),
    ['ingest', '--serve', topic, brokers.join(','), ...(noKafka ? ['--no-kafka'] : [])],
    {
      // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server (open it in Chrome DevTools).
      execArgv: [
        '--import',
        'tsx',
        ...(process.env.BENCH_CPU_PROF
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
          : []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const ready = await new Promise<{ address: string; token: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { address: string; token: string }));
    child.once('exit', (code) => reject(new Error(`bench server exited (${code})`)));
  });
  return {
    child,
    pool: new RawHttpPool(Number(new URL(ready.address).port)),
    authorization: `Bearer ${ready.token}`,
  };
}

// ---------------------------------------------------------------------------------------------
// Load

let sequence = 0;
const time = () => new Date(Date.now() - 60_000).toISOString();

/** An event like the service desk sends: 1,000 incidents, unique ids. */
function event(): string {
  const n = sequence++;
  return (
    `{"specversion":"1.0","id":"bench-${n}","source":"/bench","type":"incident.reported",` +
    `"subject":"INC-BENCH-${n % 1000}","time":"${time()}",` +
    `"data":{"severity":"II","title":"Disk array degraded","site":"DC-1"}}`
  );
}

function post(server: Server, body: string): Promise<number> {
  return server.pool.request({
    method: 'POST',
    path: '/v1/events',
    headers: { authorization: server.authorization, 'content-type': 'application/json' },
    body,
  });
}

interface Result {
  events: number;
  errors: Record<number, number>;
  eventsPerSecond: number;
  latenciesMs: number[];
}

function body(eventsPerRequest: number): string {
  if (eventsPerRequest === 1) return event();
  return `[${Array.from({ length: eventsPerRequest }, event).join(',')}]`;
}

/** `concurrency` workers, each posting the next request as soon as the previous one answers. */
async function closedLoop(
  server: Server,
  options: Options,
  eventsPerRequest: number,
  seconds: number,
): Promise<Result> {
  const result: Result = { events: 0, errors: {}, eventsPerSecond: 0, latenciesMs: [] };
  const started = performance.now();
  const end = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const payload = body(eventsPerRequest);
      const t0 = performance.now();
      const status = await post(server, payload);
      result.latenciesMs.push(performance.now() - t0);
      if (status === 202) result.events += eventsPerRequest;
      else result.errors[status] = (result.errors[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  result.eventsPerSecond = result.events / ((performance.now() - started) / 1000);
  return result;
}

/** Requests planned at a fixed rate; each latency counts from its planned start. */
async function openLoop(server: Server, options: Options): Promise<Result> {
  const result: Result = { events: 0, errors: {}, eventsPerSecond: 0, latenciesMs: [] };
  const total = Math.round(options.rate * options.seconds);
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total;) {
    const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
    for (; i < Math.min(due, total); i++) {
      const planned = started + (i * 1000) / options.rate;
      inFlight.push(
        post(server, event()).then((status) => {
          result.latenciesMs.push(performance.now() - planned);
          if (status === 202) result.events++;
          else result.errors[status] = (result.errors[status] ?? 0) + 1;
        }),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inFlight);
  result.eventsPerSecond = result.events / ((performance.now() - started) / 1000);
  return result;
}

async function rawProducer(kafka: Kafka, topic: string, options: Options): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
  await producer.connect();
  let events = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const messages = Array.from({ length: options.batch }, () => {
        const value = event();
        return { key: `INC-BENCH-${sequence % 1000}`, value };
      });
      await producer.send({ topic, acks: -1, messages });
      events += messages.length;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const perSecond = events / ((performance.now() - started) / 1000);
  await producer.disconnect();
  return perSecond;
}

// ---------------------------------------------------------------------------------------------
// Output

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function report(r: Result): string {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  const errors = Object.entries(r.errors)
    .map(([status, n]) => `${n}×${status}`)
    .join(', ');
  return (
    `${fmt(r.eventsPerSecond)} events/s, latency p50 ${percentile(sorted, 50).toFixed(1)} ms, ` +
    `p99 ${percentile(sorted, 99).toFixed(1)} ms (${sorted.length} requests)` +
    (errors ? `, non-202: ${errors}` : '')
  );
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function say(line: string): void {
  process.stdout.write(`[ingest] ${line}\n`);
}
