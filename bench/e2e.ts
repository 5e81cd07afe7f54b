/**
 * `npm run bench -- e2e [--rates 33,100,333] [--seconds 60] [--lead-ms 10000] [--kills 3]
 *   [--split] [--port 0] [--only lateness,flood,restart] [--flood-batches 40]`
 *
 * What a user of the deployed service gets (issue 12 §3), measured from outside the service:
 *
 * - The service runs as a user runs it: `npm run up` (in a process group of its own), configured
 *   only through the documented variables (its own port, database, topics and consumer group; with
 *   KAFKA_BROKERS and API_KEYS set, `up` starts no broker and makes no key), every role in one
 *   process, escalations on (the default policy). `--split` runs two instead: `ROLES=api,projector`
 *   and `ROLES=scheduler`.
 * - Incidents are posted over HTTP by this process (./raw-http.ts): severity I, reported 5 min
 *   before the moment they should breach, so `response` and `dispatch` come due together at a
 *   planned instant `dueAt`; each is posted `--lead-ms` ahead of it (its warnings, already past,
 *   fire at once). Rates up to 100/s post one event per request; faster rates post batches of 500
 *   (the issue's 333/s: 40 batches of 500 ahead of time).
 * - A kafkajs consumer of its own (a pager: not the service's client) reads `sla.escalations`.
 *   Expected per incident: two `sla.breached` (response, dispatch) and one `incident.escalated`.
 *
 * Lateness, all on this machine's clock (the service, Postgres and this process share it):
 *   received  = when this consumer received the record − dueAt  ← what a pager gets (the headline)
 *   detected  = data.breachedAt − dueAt  (the firing transaction's start, database clock)
 *   relayed   = record timestamp − data.breachedAt  (the outbox relay's produce call)
 *   delivered = received − record timestamp  (broker and consumer)
 * early: received or detected before dueAt. missing: expected breach or escalation never received.
 * double: a CloudEvent id received more than once (allowed: at-least-once, consumers dedupe);
 * double pages: two different ids for one (incident, milestone) breach or one escalation (a bug).
 *
 * Restart (`--kills N`): incidents come due 0.2–1.2 s after the service is SIGKILLed (its whole
 * process group, npm with it); `npm run up` is started again at once. Printed per kill: kill → HTTP answers, → /readyz
 * 200, → first and last of the overdue breaches received, → the breach of an incident posted after
 * the restart received (it needs the projector: its consumer group has rejoined).
 *
 * Flood (`--flood-batches 40`): one client posts batches of 500 new incidents one at a time, as
 * fast as they are answered (the issue's `503 overloaded` case): statuses, POST times, the
 * service's event-loop delay while it ingests and projects them.
 *
 * Also printed: the service's RSS (peak and now, from /proc), its event-loop delay p99/max over the
 * run (prom-client's histogram, reset by each scrape), this process's own event-loop delay (so a
 * slow measurer is visible), the load average. Numbers only; nothing is asserted.
 * BENCH_LOG=debug passes the service's logs (per-batch projector timings, firing rounds) to stderr.
 * BENCH_DB_PREFIX names the database prefix (default sla_bench_); BENCH_KEEP_DB=1 keeps it;
 * BENCH_SERVICE_ROOT runs the service of another checkout (before/after with the same bench);
 * BENCH_NODE_ARGS adds node flags to the service (`--cpu-prof --cpu-prof-dir=/tmp/prof`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { Client } from 'pg';
import { createApiKey } from '../src/http/api-keys';
import { ensureDatabase } from '../src/infra/db';
import { childOf } from '../test/chaos/infra';
import { RawHttpPool } from './raw-http';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const BASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** BENCH_SERVICE_ROOT: run the service from another checkout (before/after in one sitting). */
const SERVICE_ROOT = process.env.BENCH_SERVICE_ROOT ?? path.join(__dirname, '..');
const MIN = 60_000;
/** Severity I: response and dispatch are due 5 min after the report (SPEC §2). */
const LIMIT_MS = 5 * MIN;
const EVENTS_PARTITIONS = 6;

interface Options {
  rates: number[];
  seconds: number;
  leadMs: number;
  kills: number;
  split: boolean;
  port: number;
  only: Set<string>;
  drainMs: number;
  floodBatches: number;
}

interface Received {
  receivedAt: number;
  timestamp: number;
  id: string;
  type: string;
  subject: string;
  milestone: string | null;
  dueAt: number | null;
  breachedAt: number | null;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      rates: { type: 'string', default: '33,100,333' },
      seconds: { type: 'string', default: '60' },
      'lead-ms': { type: 'string', default: '10000' },
      kills: { type: 'string', default: '3' },
      'flood-batches': { type: 'string', default: '40' },
      split: { type: 'boolean', default: false },
      port: { type: 'string', default: '0' },
      only: { type: 'string', default: 'lateness,flood,restart' },
      'drain-ms': { type: 'string', default: '30000' },
    },
  });
  const options: Options = {
    rates: values.rates
      .split(',')
      .map(Number)
      .filter((n) => n > 0),
    seconds: Number(values.seconds),
    leadMs: Number(values['lead-ms']),
    kills: Number(values.kills),
    split: values.split,
    port: Number(values.port),
    only: new Set(values.only.split(',')),
    drainMs: Number(values['drain-ms']),
    floodBatches: Number(values['flood-batches']),
  };
  const tag = Date.now().toString(36);
  const bench = new E2eBench(tag, options);
  try {
    await bench.setUp();
    say(
      `e2e bench ${tag}: ${options.split ? 'two processes (api,projector | scheduler)' : 'one process, all roles'}; ` +
        `load ${loadavg()}; logs in ${bench.logPath}`,
    );
    if (options.only.has('lateness')) {
      for (const rate of options.rates) await bench.lateness(rate);
    }
    if (options.only.has('flood') && options.floodBatches > 0) {
      await bench.flood(options.floodBatches);
    }
    if (options.only.has('restart') && options.kills > 0) await bench.restarts(options.kills);
  } finally {
    await bench.tearDown();
  }
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function loadavg(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** One service process (or two with --split) of this run, restartable. */
interface ServiceProcess {
  roles: string;
  port: number;
  child: ChildProcess;
  exited: Promise<void>;
}

class E2eBench {
  readonly logPath: string;
  private readonly dbName: string;
  private readonly dbUrl: string;
  private readonly topics: Record<'events' | 'warnings' | 'escalations' | 'dlq', string>;
  private readonly group: string;
  private readonly key = createApiKey(['events:write'], 'bench-e2e');
  private readonly log;
  private processes: ServiceProcess[] = [];
  private db: Client | null = null;
  private consumer: Consumer | null = null;
  private readonly received: Received[] = [];
  private readonly waiters = new Set<() => void>();
  private http: RawHttpPool | null = null;
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private seq = 0;

  constructor(
    private readonly tag: string,
    private readonly options: Options,
  ) {
    const prefix = process.env.BENCH_DB_PREFIX ?? 'sla_bench_';
    this.dbName = `${prefix}e2e_${tag}`;
    const url = new URL(BASE_URL);
    url.pathname = `/${this.dbName}`;
    this.dbUrl = url.toString();
    const t = (name: string) => `bench.e2e.${tag}.${name}`;
    this.topics = {
      events: t('events'),
      warnings: t('warnings'),
      escalations: t('escalations'),
      dlq: t('dlq'),
    };
    this.group = `bench-e2e-${tag}`;
    this.logPath = path.join(os.tmpdir(), `sla-bench-e2e-${tag}.log`);
    this.log = createWriteStream(this.logPath);
  }

  async setUp(): Promise<void> {
    await ensureDatabase(this.dbUrl);
    const ports =
      this.options.port > 0
        ? [this.options.port, this.options.port + 1]
        : [await freePort(), await freePort()];
    const roles = this.options.split ? ['api,projector', 'scheduler'] : ['api,projector,scheduler'];
    this.processes = roles.map((r, i) => this.spawnService(r, ports[i]!));
    await Promise.all(this.processes.map((p) => waitReadyz(p.port, 120_000)));
    this.db = new Client({ connectionString: this.dbUrl });
    await this.db.connect();
    await this.waitProjectorClaimed(0, 120_000);
    this.http = new RawHttpPool(this.processes[0]!.port, 32);
    await this.startConsumer();
    this.loop.enable();
  }

  async tearDown(): Promise<void> {
    this.http?.close();
    await this.consumer?.disconnect().catch(() => undefined);
    await Promise.all(this.processes.map((p) => this.stopProcess(p)));
    await this.db?.end().catch(() => undefined);
    if (!process.env.BENCH_KEEP_DB) {
      const admin = new Client({ connectionString: BASE_URL });
      await admin.connect();
      await admin
        .query(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`)
        .catch(() => undefined);
      await admin.end();
      const kafka = new Kafka({
        clientId: 'bench-e2e',
        brokers: BROKERS,
        logLevel: logLevel.NOTHING,
      });
      const adminK = kafka.admin();
      await adminK.connect();
      await adminK.deleteTopics({ topics: Object.values(this.topics) }).catch(() => undefined);
      await adminK.disconnect();
    } else {
      say(`kept database ${this.dbName}`);
    }
    this.log.end();
  }

  private spawnService(roles: string, port: number): ServiceProcess {
    // `npm run up`, as a user starts it, in a process group of its own: a kill takes npm and the
    // service together (`kill -9 -- -PGID`, a supervisor's whole-unit kill). BENCH_NODE_ARGS: extra
    // node flags for the service, e.g. `--cpu-prof --cpu-prof-dir=/tmp/p` (through NODE_OPTIONS).
    const nodeOptions = [process.env.NODE_OPTIONS, process.env.BENCH_NODE_ARGS].filter(Boolean);
    const child = spawn('npm', ['run', '--silent', 'up'], {
      cwd: SERVICE_ROOT,
      detached: true,
      env: {
        ...process.env,
        ROLES: roles,
        HTTP_PORT: String(port),
        DATABASE_URL: this.dbUrl,
        KAFKA_BROKERS: BROKERS.join(','),
        KAFKA_CLIENT_ID: `bench-e2e-${this.tag}`,
        KAFKA_TOPIC_EVENTS: this.topics.events,
        KAFKA_TOPIC_WARNINGS: this.topics.warnings,
        KAFKA_TOPIC_ESCALATIONS: this.topics.escalations,
        KAFKA_TOPIC_DLQ: this.topics.dlq,
        PROJECTOR_GROUP_ID: this.group,
        API_KEYS: this.key.configEntry,
        LOG_LEVEL: process.env.BENCH_LOG ?? 'info',
        NODE_OPTIONS: nodeOptions.join(' '),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tee = (chunk: Buffer) => {
      this.log.write(chunk);
      if (process.env.BENCH_LOG) process.stderr.write(chunk);
    };
    child.stdout.on('data', tee);
    child.stderr.on('data', tee);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { roles, port, child, exited };
  }

  private async stopProcess(p: ServiceProcess): Promise<void> {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGTERM'); // npm passes it on to the service: a graceful stop
    const timer = setTimeout(() => process.kill(-p.child.pid!, 'SIGKILL'), 15_000);
    await p.exited;
    clearTimeout(timer);
  }

  /** Every partition of the events topic claimed at or after `since` (a new owner's epoch). */
  private async waitProjectorClaimed(since: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.db!.query<{ n: string }>(
        `SELECT count(*) AS n FROM projector_offsets
         WHERE group_id = $1 AND topic = $2 AND updated_at >= to_timestamp($3 / 1000.0)`,
        [this.group, this.topics.events, since],
      );
      if (Number(rows[0]!.n) >= EVENTS_PARTITIONS) return;
      if (Date.now() > deadline) throw new Error('the projector did not claim its partitions');
      await sleep(100);
    }
  }

  private async startConsumer(): Promise<void> {
    const kafka = new Kafka({
      clientId: `bench-e2e-pager-${this.tag}`,
      brokers: BROKERS,
      logLevel: logLevel.NOTHING,
    });
    const consumer = kafka.consumer({
      groupId: `bench-e2e-pager-${this.tag}`,
      maxWaitTimeInMs: 500,
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topics.escalations, fromBeginning: true });
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => resolve()),
    );
    await consumer.run({
      eachBatch: async ({ batch }) => {
        const receivedAt = Date.now();
        for (const m of batch.messages) {
          const e = JSON.parse(m.value!.toString()) as {
            id: string;
            type: string;
            subject: string;
            data: { milestone?: string | null; dueAt?: string; breachedAt?: string };
          };
          this.received.push({
            receivedAt,
            timestamp: Number(m.timestamp),
            id: e.id,
            type: e.type,
            subject: e.subject,
            milestone: e.data.milestone ?? null,
            dueAt: e.data.dueAt ? Date.parse(e.data.dueAt) : null,
            breachedAt: e.data.breachedAt ? Date.parse(e.data.breachedAt) : null,
          });
        }
        for (const wake of this.waiters) wake();
      },
    });
    await joined;
    this.consumer = consumer;
  }

  /** Resolves when `done()` holds after a received batch, or at `deadline` (epoch ms). */
  private async until(done: () => boolean, deadline: number): Promise<boolean> {
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 500));
        this.waiters.add(wake);
      });
    }
    return true;
  }

  private incident(subject: string, dueAt: number): object {
    return {
      specversion: '1.0',
      id: `${subject}-reported`,
      source: '/bench-e2e',
      type: 'incident.reported',
      subject,
      time: new Date(dueAt - LIMIT_MS).toISOString(),
      data: { severity: 'I', title: 'e2e bench', site: 'bench' },
    };
  }

  /** POSTs one event or a batch; resolves with the status (0: network error). */
  private async post(events: object[], conn?: RawHttpPool): Promise<number> {
    const body = JSON.stringify(events.length === 1 ? events[0] : events);
    // A keep-alive socket the server closed while idle fails once: then a fresh one is opened.
    for (let attempt = 0; ; attempt++) {
      const status = await this.postOnce(body, events.length, conn);
      if (status !== 0 || attempt === 2 || conn) return status;
    }
  }

  private postOnce(body: string, n: number, conn?: RawHttpPool): Promise<number> {
    return (conn ?? this.http!)
      .request({
        method: 'POST',
        path: '/v1/events',
        headers: {
          'content-type':
            n === 1 ? 'application/cloudevents+json' : 'application/cloudevents-batch+json',
          authorization: `Bearer ${this.key.token}`,
        },
        body,
      })
      .catch(() => 0);
  }

  /** One lateness run at `rate` breaching incidents per second. */
  async lateness(rate: number): Promise<void> {
    const { seconds, leadMs } = this.options;
    const count = Math.round(rate * seconds);
    const batch = rate > 100 ? 500 : 1;
    const prefix = `INC-E2E-${this.tag}-${rate}-${(this.seq += 1)}-`;
    const start = Date.now() + 1000;
    const firstDue = start + leadMs;
    const dueOf = (i: number) => firstDue + Math.floor((i * 1000) / rate);
    const statuses = new Map<number, number>();
    const accepted = new Map<string, number>(); // subject → dueAt
    const loadBefore = loadavg();
    await this.scrapeLoop(); // resets the service's event-loop histogram
    this.loop.reset();
    const fromIndex = this.received.length;

    const inflight: Promise<void>[] = [];
    for (let i = 0; i < count; i += batch) {
      const postAt = dueOf(i) - leadMs;
      const wait = postAt - Date.now();
      if (wait > 0) await sleep(wait);
      const subjects: string[] = [];
      const events: object[] = [];
      for (let j = i; j < Math.min(count, i + batch); j++) {
        const subject = `${prefix}${j}`;
        subjects.push(subject);
        events.push(this.incident(subject, dueOf(j)));
      }
      const send = async () => {
        const status = await this.post(events);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 202) subjects.forEach((s, k) => accepted.set(s, dueOf(i + k)));
      };
      // Batches go one at a time (a single client); single events may overlap.
      if (batch > 1) await send();
      else inflight.push(send());
    }
    await Promise.all(inflight);
    const lastDue = dueOf(count - 1);
    const expected = accepted.size * 3;
    const mine = () => this.received.slice(fromIndex).filter((r) => r.subject.startsWith(prefix));
    await this.until(
      () => new Set(mine().map((r) => r.id)).size >= expected,
      lastDue + this.options.drainMs,
    );
    await sleep(1000); // doubles arriving late
    const loop = await this.scrapeLoop();
    const rss = this.processes
      .map((p) => `${p.roles}: ${rssOf(childOf(p.child.pid!) ?? p.child.pid!)}`)
      .join('; ');
    const report = judge(mine(), accepted);
    const posts = [...statuses].map(([s, n]) => `${s}×${n}`).join(' ');
    say(
      `\n== ${rate} incidents/s: ${count} over ${seconds} s, posted ${leadMs} ms ahead in ${
        batch === 1 ? 'single-event POSTs' : `batches of ${batch}`
      } (${posts}); load ${loadBefore} → ${loadavg()}`,
    );
    for (const line of report) say(line);
    say(
      `   service RSS ${rss}; service event-loop delay ${loop}; bench loop p99 ${ms(this.loop.percentile(99) / 1e6)} max ${ms(this.loop.max / 1e6)}`,
    );
  }

  /** prom-client's event-loop histogram of each process since the previous scrape. */
  private async scrapeLoop(): Promise<string> {
    const parts: string[] = [];
    for (const p of this.processes) {
      const text = await httpGet(p.port, '/metrics').catch(() => '');
      const get = (name: string) => {
        const m = new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text);
        return m ? ms(Number(m[1]) * 1000) : '?';
      };
      parts.push(
        `${p.roles}: p99 ${get('nodejs_eventloop_lag_p99_seconds')} max ${get('nodejs_eventloop_lag_max_seconds')}`,
      );
    }
    return parts.join('; ');
  }

  /**
   * One client posting batches of 500 new incidents one at a time, as fast as they are answered
   * (issue 12: this got `503 overloaded` while the same process projected them). Severity IV,
   * reported now: nothing of them comes due while the bench runs.
   */
  async flood(batches: number): Promise<void> {
    const statuses = new Map<number, number>();
    const prefix = `INC-E2E-${this.tag}-flood-`;
    const times: number[] = [];
    await this.scrapeLoop();
    const started = Date.now();
    for (let b = 0; b < batches; b++) {
      const events = Array.from({ length: 500 }, (_, i) => ({
        specversion: '1.0',
        id: `${prefix}${b}-${i}-reported`,
        source: '/bench-e2e',
        type: 'incident.reported',
        subject: `${prefix}${b}-${i}`,
        time: new Date().toISOString(),
        data: { severity: 'IV', title: 'e2e bench flood', site: 'bench' },
      }));
      const at = Date.now();
      const status = await this.post(events);
      times.push(Date.now() - at);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    const seconds = (Date.now() - started) / 1000;
    // Everything accepted is projected before the figures are taken (the loop delay covers it).
    const accepted = (statuses.get(202) ?? 0) * 500;
    for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
      const { rows } = await this.db!.query<{ n: string }>(
        'SELECT count(*) AS n FROM incidents WHERE incident_id LIKE $1',
        [`${prefix}%`],
      );
      if (Number(rows[0]!.n) >= accepted) break;
      await sleep(200);
    }
    const projectedIn = (Date.now() - started) / 1000;
    const posts = [...statuses].map(([s, n]) => `${s}×${n}`).join(' ');
    say(
      `\n== one client, ${batches} batches of 500 one at a time: ${posts} in ${seconds.toFixed(1)} s ` +
        `(${Math.round((batches * 500) / seconds)} events/s), all projected after ${projectedIn.toFixed(1)} s; ` +
        `POST ${stats(times)}; service event-loop delay ${await this.scrapeLoop()}; load ${loadavg()}`,
    );
  }

  /** SIGKILL while timers come due, restart at once, and time what comes back when. */
  async restarts(kills: number): Promise<void> {
    say(`\n== restart after SIGKILL (${kills}×): times from the kill; load ${loadavg()}`);
    const rows: string[] = [];
    for (let k = 1; k <= kills; k++) {
      const prefix = `INC-E2E-${this.tag}-kill${k}-`;
      const n = 100;
      const killAt = Date.now() + 4000;
      const dueOf = (i: number) => killAt + 200 + Math.floor((i * 1000) / n);
      const accepted = new Map<string, number>();
      const events = Array.from({ length: n }, (_, i) => this.incident(`${prefix}${i}`, dueOf(i)));
      const status = await this.post(events);
      if (status !== 202) throw new Error(`posting the kill batch: ${status}`);
      events.forEach((_, i) => accepted.set(`${prefix}${i}`, dueOf(i)));
      // Projected (timers stored) before the kill, so the restart is about firing, not projecting.
      for (;;) {
        const { rows: r } = await this.db!.query<{ n: string }>(
          'SELECT count(*) AS n FROM incidents WHERE incident_id LIKE $1',
          [`${prefix}%`],
        );
        if (Number(r[0]!.n) >= n) break;
        await sleep(50);
      }
      await sleep(Math.max(0, killAt - Date.now()));
      const fromIndex = this.received.length;
      const killedAt = Date.now();
      for (const p of this.processes) process.kill(-p.child.pid!, 'SIGKILL');
      await Promise.all(this.processes.map((p) => p.exited));
      this.processes = this.processes.map((p) => this.spawnService(p.roles, p.port));
      const port = this.processes[0]!.port;

      let httpAt = 0;
      let readyAt = 0;
      const lateSubject = `${prefix}late`;
      const probe = (async () => {
        for (;;) {
          const status = await httpStatus(port, '/readyz');
          if (status !== 0 && !httpAt) httpAt = Date.now();
          if (status === 200) {
            readyAt = Date.now();
            return;
          }
          await sleep(20);
        }
      })();
      // An incident whose deadline passed already: its breach needs the projector.
      const late = (async () => {
        const conn = new RawHttpPool(port, 1);
        try {
          for (;;) {
            const st = await this.post([this.incident(lateSubject, Date.now() - 1000)], conn);
            if (st === 202) return;
            await sleep(50);
          }
        } finally {
          conn.close();
        }
      })();
      const since = () => this.received.slice(fromIndex);
      const overdue = () =>
        since().filter(
          (r) =>
            r.subject.startsWith(prefix) && r.type === 'sla.breached' && r.subject !== lateSubject,
        );
      await this.until(
        () => overdue().length >= 2 * n && since().some((r) => r.subject === lateSubject),
        killedAt + 90_000,
      );
      await Promise.all([probe, late]);
      const o = overdue()
        .map((r) => r.receivedAt)
        .sort((a, b) => a - b);
      const lateAt = since().find((r) => r.subject === lateSubject)?.receivedAt;
      const rel = (t: number | undefined) =>
        t ? `${((t - killedAt) / 1000).toFixed(2)} s` : 'never';
      rows.push(
        `   kill ${k}: HTTP ${rel(httpAt)}, /readyz 200 ${rel(readyAt)}, first overdue breach ${rel(o[0])}, ` +
          `all ${o.length}/${2 * n} ${rel(o[o.length - 1])}; new incident's breach (projector back) ${rel(lateAt)}`,
      );
      say(rows[rows.length - 1]!);
      // Settle before the next kill: the projector holds its partitions again.
      await this.waitProjectorClaimed(killedAt, 120_000);
    }
    const rss = this.processes
      .map((p) => `${p.roles}: ${rssOf(childOf(p.child.pid!) ?? p.child.pid!)}`)
      .join('; ');
    say(`   service RSS after the restarts ${rss}; load ${loadavg()}`);
  }
}

/** Per-stage lateness, early, missing and double counts for one run. */
function judge(received: Received[], accepted: Map<string, number>): string[] {
  const byId = new Map<string, Received>();
  let doubles = 0;
  for (const r of received) {
    if (byId.has(r.id)) doubles++;
    else byId.set(r.id, r);
  }
  const unique = [...byId.values()];
  const pages = new Map<string, Set<string>>();
  for (const r of unique) {
    const key = `${r.subject}/${r.type}/${r.type === 'sla.breached' ? r.milestone : ''}`;
    pages.set(key, (pages.get(key) ?? new Set()).add(r.id));
  }
  const doublePages = [...pages.values()].filter((s) => s.size > 1).length;
  const breaches = unique.filter((r) => r.type === 'sla.breached');
  const escalations = unique.filter((r) => r.type === 'incident.escalated');
  let missing = 0;
  for (const subject of accepted.keys()) {
    for (const key of [
      `${subject}/sla.breached/response`,
      `${subject}/sla.breached/dispatch`,
      `${subject}/incident.escalated/`,
    ]) {
      if (!pages.has(key)) missing++;
    }
  }
  const due = (r: Received) => accepted.get(r.subject) ?? r.dueAt ?? 0;
  const early =
    breaches.filter((r) => r.receivedAt < due(r) || (r.breachedAt ?? Infinity) < due(r)).length +
    escalations.filter((r) => r.receivedAt < due(r)).length;
  const line = (what: string, values: number[]) => `   ${what.padEnd(44)} ${stats(values)}`;
  return [
    line(
      'sla.breached received − dueAt (pager view)',
      breaches.map((r) => r.receivedAt - due(r)),
    ),
    line(
      '  detected: data.breachedAt − dueAt',
      breaches.map((r) => (r.breachedAt ?? 0) - due(r)),
    ),
    line(
      '  relayed: record timestamp − breachedAt',
      breaches.map((r) => r.timestamp - (r.breachedAt ?? 0)),
    ),
    line(
      '  delivered: received − record timestamp',
      breaches.map((r) => r.receivedAt - r.timestamp),
    ),
    line(
      'incident.escalated received − dueAt',
      escalations.map((r) => r.receivedAt - due(r)),
    ),
    `   early ${early}, missing ${missing} of ${accepted.size * 3}, double ids ${doubles}, double pages ${doublePages}`,
  ];
}

function stats(values: number[]): string {
  if (values.length === 0) return 'n=0';
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return `n=${sorted.length} p50 ${ms(q(50))} p99 ${ms(q(99))} max ${ms(sorted[sorted.length - 1]!)}`;
}

function ms(v: number): string {
  return `${Math.round(v)} ms`;
}

function rssOf(pid: number): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return `peak ${Math.round(kb('VmHWM') / 1024)} MB, now ${Math.round(kb('VmRSS') / 1024)} MB`;
  } catch {
    return '?';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

function httpStatus(port: number, pathName: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathName, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

function httpGet(port: number, pathName: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathName }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

async function waitReadyz(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await httpStatus(port, '/readyz')) !== 200) {
    if (Date.now() > deadline) throw new Error(`the service on port ${port} did not become ready`);
    await sleep(100);
  }
}
