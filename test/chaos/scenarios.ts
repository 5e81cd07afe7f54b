/**
 * The fault scenarios (issue 12 item 4). Each brings up what it needs on the suite's own Postgres
 * cluster and broker (its own database, topics and consumer group), runs real service processes,
 * breaks something, and returns its figures and its violations. Violations are about correctness
 * only (lost, doubled, early, a false 202, a status outside the allowed set, a crash); times are
 * printed, never judged: the machine is a shared 2-core box.
 *
 * Used by `npm run chaos` (full sizes) and test/e2e/chaos.test.ts (reduced sizes, asserts that
 * there are no violations).
 */
import { randomBytes } from 'node:crypto';
import { RawHttpPool } from '../../bench/raw-http';
import { alive, loadAverage, sleep, type OwnBroker, type PgCluster } from './infra';
import {
  createTopicsFor,
  describeVerdict,
  judge,
  missingFromReadModel,
  Pager,
  percentile,
  postReports,
  reportEvent,
  RESPONSE_MS,
  StatusTally,
  type PlannedIncident,
  type Verdict,
} from './judge';
import { apiKeys, ServiceProcess, type ServiceSetup } from './service';

export interface ChaosEnv {
  pg: PgCluster;
  broker: OwnBroker;
  /** A port of the suite's range for the next service instance. */
  nextPort(): number;
  say(line: string): void;
}

export interface ScenarioResult {
  name: string;
  figures: string[];
  violations: string[];
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

interface Prepared {
  setup: ServiceSetup;
  readToken: string;
  pager: Pager;
  label: string;
}

async function prepare(
  env: ChaosEnv,
  name: string,
  extraEnv: Record<string, string> = {},
): Promise<Prepared> {
  const label = `${name}_${randomBytes(3).toString('hex')}`;
  const keys = apiKeys();
  const topics = {
    events: `chaos.${label}.events`,
    warnings: `chaos.${label}.warnings`,
    escalations: `chaos.${label}.escalations`,
    dlq: `chaos.${label}.dlq`,
  };
  await createTopicsFor(env.broker.brokers, topics);
  const setup: ServiceSetup = {
    label: `chaos-${label}`,
    databaseUrl: env.pg.url(`i12chaos_${label}`),
    brokers: env.broker.brokers,
    topics,
    groupId: `chaos.${label}.projector`,
    writeToken: keys.writeToken,
    apiKeys: keys.apiKeys,
    env: extraEnv,
  };
  const pager = new Pager(
    env.broker.brokers,
    [topics.escalations, topics.warnings],
    `chaos.${label}.pager`,
  );
  return { setup, readToken: keys.readToken, pager, label };
}

let incidentCounter = 0;
function plan(label: string, dueAt: number): PlannedIncident {
  incidentCounter += 1;
  return { id: `${label}-${incidentCounter}`, dueAt: Math.floor(dueAt) }; // report times have ms precision
}

/** Posts planned incidents in batches; returns those answered 202. */
async function postAll(
  baseUrl: string,
  token: string,
  incidents: PlannedIncident[],
  tally: StatusTally,
  batch = 250,
): Promise<PlannedIncident[]> {
  const accepted: PlannedIncident[] = [];
  for (let i = 0; i < incidents.length; i += batch) {
    const chunk = incidents.slice(i, i + batch);
    const out = await postReports(baseUrl, token, chunk);
    tally.add(out.status, chunk.length);
    if (out.status === 202) accepted.push(...chunk);
  }
  return accepted;
}

/**
 * Posts small batches of new incidents (due `leadMs`…`leadMs + spreadMs` ahead) one request after
 * the other until stopped; records each outcome with its send and answer time.
 */
class SteadyPoster {
  readonly accepted: PlannedIncident[] = [];
  readonly outcomes: { sentAt: number; doneAt: number; status: number; n: number }[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly baseUrls: () => string[],
    private readonly token: string,
    private readonly label: string,
    private readonly options: {
      perBatch: number;
      pauseMs: number;
      leadMs: number;
      spreadMs: number;
    },
  ) {}

  start(): void {
    this.loop = (async () => {
      let turn = 0;
      while (!this.stopped) {
        const urls = this.baseUrls();
        const url = urls[turn++ % urls.length]!;
        const now = Date.now();
        const batch = Array.from({ length: this.options.perBatch }, () =>
          plan(this.label, now + this.options.leadMs + Math.random() * this.options.spreadMs),
        );
        const out = await postReports(url, this.token, batch, 10_000);
        this.outcomes.push({
          sentAt: now,
          doneAt: Date.now(),
          status: out.status,
          n: batch.length,
        });
        if (out.status === 202) this.accepted.push(...batch);
        await sleep(this.options.pauseMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  tally(filter: (o: SteadyPoster['outcomes'][number]) => boolean = () => true): StatusTally {
    const t = new StatusTally();
    for (const o of this.outcomes) if (filter(o)) t.add(o.status, o.n);
    return t;
  }
}

/** Waits until the pager has every expected breach, or the time is up (then the verdict tells). */
async function awaitBreaches(
  pager: Pager,
  incidents: PlannedIncident[],
  timeoutMs: number,
  services: ServiceProcess[] = [],
): Promise<Verdict> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = judge(pager, incidents);
    const nobodyRuns = services.length > 0 && !services.some((s) => s.running);
    if (v.lost === 0 || Date.now() > deadline || nobodyRuns) return v;
    await sleep(500);
  }
}

async function awaitReadModel(
  databaseUrl: string,
  ids: string[],
  timeoutMs: number,
  services: ServiceProcess[] = [],
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const missing = await missingFromReadModel(databaseUrl, ids).catch(() => ids);
    const nobodyRuns = services.length > 0 && !services.some((s) => s.running);
    if (missing.length === 0 || Date.now() > deadline || nobodyRuns) return missing;
    await sleep(500);
  }
}

function verdictViolations(v: Verdict): string[] {
  const out: string[] = [];
  if (v.lost > 0) out.push(`${v.lost} breaches lost`);
  if (v.doubleFires > 0) out.push(`${v.doubleFires} breaches fired under two ids`);
  if (v.early > 0) out.push(`${v.early} breaches early`);
  if (v.escalationsWrong > 0)
    out.push(`${v.escalationsWrong} incidents not escalated exactly once`);
  if (out.length > 0) out.push(...v.samples);
  return out;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

// ---------------------------------------------------------------------------------------------
// 1. SIGKILL every 8–12 s while thousands of deadlines pass

export interface KillLoopOptions {
  incidents: number;
  durationMs: number;
  minIntervalMs: number;
  maxIntervalMs: number;
  /** How long to wait for the last breaches after the last restart. */
  settleMs: number;
}

export async function killLoop(env: ChaosEnv, o: KillLoopOptions): Promise<ScenarioResult> {
  const name = 'kill-loop';
  const p = await prepare(env, 'kill');
  const svc = new ServiceProcess(p.setup, env.nextPort());
  const figures: string[] = [];
  const violations: string[] = [];
  svc.start();
  try {
    figures.push(`first start to ready: ${secs(await svc.waitReady())}`);
    await p.pager.start();
    // Deadlines spread over the kill phase, starting a few seconds after it begins.
    const posted = Date.now();
    // Time to post and project them first (the kills would keep the projector out for good).
    const begin = posted + Math.max(15_000, o.incidents * 6);
    const up = Array.from({ length: o.incidents }, (_, i) =>
      plan(p.label, begin + (i * o.durationMs) / o.incidents),
    );
    const tally = new StatusTally();
    // Report times are 5 min before the due times: in the past, accepted as history.
    const accepted = await postAll(svc.baseUrl, p.setup.writeToken, up, tally);
    figures.push(`posted ${up.length} incidents in ${secs(Date.now() - posted)}: ${tally.text()}`);
    const missing = await awaitReadModel(
      p.setup.databaseUrl,
      accepted.map((i) => i.id),
      120_000,
      [svc],
    );
    if (missing.length > 0) violations.push(`${missing.length} accepted incidents not projected`);
    const waitBegin = begin - 5_000 - Date.now();
    if (waitBegin > 0) await sleep(waitBegin);

    const poster = new SteadyPoster(() => [svc.baseUrl], p.setup.writeToken, p.label, {
      perBatch: 5,
      pauseMs: 500,
      leadMs: 10_000,
      spreadMs: 20_000,
    });
    poster.start();
    const killsAt: number[] = [];
    // Kill → /readyz 200 of the restarted service, for each restart that got there before the
    // next kill (polled every 200 ms beside the loop, which keeps its rhythm).
    const readyAfter: number[] = [];
    const end = Date.now() + o.durationMs + 5_000;
    while (Date.now() < end) {
      const interval = o.minIntervalMs + Math.random() * (o.maxIntervalMs - o.minIntervalMs);
      await sleep(Math.min(interval, Math.max(0, end - Date.now())));
      if (Date.now() >= end) break;
      await svc.kill();
      const killedAt = Date.now();
      killsAt.push(killedAt);
      svc.start();
      svc.waitReady(o.maxIntervalMs).then(
        () => killsAt.at(-1) === killedAt && readyAfter.push(Date.now() - killedAt),
        () => undefined, // killed again first, or not ready within an interval: not counted
      );
    }
    await poster.stop();
    await svc.waitReady(180_000);
    const lastKill = killsAt.at(-1) ?? Date.now();
    readyAfter.sort((a, b) => a - b);
    figures.push(
      `${killsAt.length} SIGKILLs at ${secs(o.minIntervalMs)}–${secs(o.maxIntervalMs)} intervals over ` +
        `${secs(o.durationMs)}; kill → /readyz 200 again ` +
        (readyAfter.length === 0
          ? 'never before the next kill'
          : `median ${secs(readyAfter[readyAfter.length >> 1]!)}, max ${secs(readyAfter.at(-1)!)} ` +
            `(${readyAfter.length} of ${killsAt.length} restarts)`),
    );
    figures.push(`steady poster during the kills: ${poster.tally().text()}`);
    const expected = [...accepted, ...poster.accepted];
    const verdict = await awaitBreaches(p.pager, expected, o.settleMs, [svc]);
    figures.push(describeVerdict(verdict));
    figures.push(
      `p99 lateness ${secs(percentile(verdict.lateness, 99))} vs one kill interval ` +
        `${secs(o.minIntervalMs)}–${secs(o.maxIntervalMs)} (last breach ${secs(
          Math.max(...[...p.pager.byId.values()].map((r) => r.receivedAt)) - lastKill,
        )} after the last kill)`,
    );
    violations.push(...verdictViolations(verdict));
    const lostIngest = await awaitReadModel(
      p.setup.databaseUrl,
      poster.accepted.map((i) => i.id),
      60_000,
    );
    if (lostIngest.length > 0)
      violations.push(`${lostIngest.length} 202'd incidents not in the read model`);
    if (svc.unexpectedExits > 0)
      violations.push(`service exited by itself ${svc.unexpectedExits}×`);
  } finally {
    await p.pager.stop();
    await svc.stop();
  }
  figures.push(`load average ${loadAverage()}`);
  return { name, figures, violations };
}

// ---------------------------------------------------------------------------------------------
// 2. Broker killed and restarted during ingest and firing

export interface OutageOptions {
  /** Before the kill. */
  upMs: number;
  /** Dependency down (from kill done to restart begin). */
  downMs: number;
  settleMs: number;
}

export async function brokerOutage(env: ChaosEnv, o: OutageOptions): Promise<ScenarioResult> {
  const name = 'broker-outage';
  const p = await prepare(env, 'broker');
  const svc = new ServiceProcess(p.setup, env.nextPort());
  const figures: string[] = [];
  const violations: string[] = [];
  svc.start();
  try {
    await svc.waitReady();
    await p.pager.start();
    const poster = new SteadyPoster(() => [svc.baseUrl], p.setup.writeToken, p.label, {
      perBatch: 5,
      pauseMs: 200,
      leadMs: 5_000,
      spreadMs: 10_000,
    });
    poster.start();
    await sleep(o.upMs);
    const killStarted = Date.now();
    await env.broker.kill();
    const down = Date.now();
    await sleep(o.downMs);
    const restartBegin = Date.now();
    await env.broker.start();
    const back = Date.now();
    await sleep(5_000);
    await poster.stop();
    figures.push(
      `broker SIGKILLed after ${secs(o.upMs)}, down ${secs(restartBegin - down)}, ` +
        `restart took ${secs(back - restartBegin)}`,
    );
    const whileDown = poster.tally((x) => x.sentAt >= down && x.doneAt <= restartBegin);
    const around = poster.tally(
      (x) => x.doneAt > killStarted && !(x.sentAt >= down && x.doneAt <= restartBegin),
    );
    figures.push(
      `POST while down: ${whileDown.text()}; around the kill and restart: ${around.text()}`,
    );
    figures.push(`POST overall: ${poster.tally().text()}`);
    const bad = whileDown.outside([503]);
    if (Object.keys(bad).length > 0)
      violations.push(`while down, statuses other than 503: ${JSON.stringify(bad)}`);
    if (whileDown.get(503) === 0) violations.push('no POST was answered while the broker was down');
    const allowed = poster.tally().outside([202, 503]);
    if (Object.keys(allowed).length > 0)
      violations.push(`statuses other than 202/503: ${JSON.stringify(allowed)}`);

    const missing = await awaitReadModel(
      p.setup.databaseUrl,
      poster.accepted.map((i) => i.id),
      o.settleMs,
      [svc],
    );
    figures.push(
      `202'd incidents: ${poster.accepted.length}, missing from the read model: ${missing.length}`,
    );
    if (missing.length > 0) violations.push(`${missing.length} false 202s (not in the read model)`);
    const verdict = await awaitBreaches(p.pager, poster.accepted, o.settleMs, [svc]);
    figures.push(describeVerdict(verdict));
    const dueWhileDown = poster.accepted.filter((i) => i.dueAt >= down && i.dueAt <= back);
    const firstAfter = Math.min(
      ...p.pager
        .breaches()
        .filter((b) => dueWhileDown.some((i) => i.id === b.incidentId))
        .map((b) => b.receivedAt),
    );
    figures.push(
      `${dueWhileDown.length} incidents fell due while the broker was down; first of their ` +
        `breaches arrived ${secs(firstAfter - back)} after the broker answered again`,
    );
    violations.push(...verdictViolations(verdict));
    if (svc.unexpectedExits > 0)
      violations.push(`service exited by itself ${svc.unexpectedExits}×`);
  } finally {
    if (!alive(env.broker.pid())) await env.broker.start();
    await p.pager.stop();
    await svc.stop();
  }
  figures.push(`load average ${loadAverage()}`);
  return { name, figures, violations };
}

// ---------------------------------------------------------------------------------------------
// 3. Postgres killed and restarted

export async function postgresOutage(env: ChaosEnv, o: OutageOptions): Promise<ScenarioResult> {
  const name = 'postgres-outage';
  const p = await prepare(env, 'pg');
  const svc = new ServiceProcess(p.setup, env.nextPort());
  const figures: string[] = [];
  const violations: string[] = [];
  svc.start();
  try {
    await svc.waitReady();
    const pid = svc.pid;
    // The suite's cluster runs with autovacuum off: /readyz warns, and stays 200.
    const before = await svc.readyz();
    const warnings = JSON.stringify(before?.body.warnings ?? []);
    figures.push(`/readyz before the kill: ${before?.status ?? 'no answer'}, warnings ${warnings}`);
    if (before?.status !== 200 || !warnings.includes('autovacuum')) {
      violations.push('/readyz did not warn (with 200) that autovacuum is off');
    }
    await p.pager.start();
    const poster = new SteadyPoster(() => [svc.baseUrl], p.setup.writeToken, p.label, {
      perBatch: 5,
      pauseMs: 200,
      leadMs: 5_000,
      spreadMs: 10_000,
    });
    poster.start();
    await sleep(o.upMs);
    await env.pg.kill();
    const down = Date.now();
    // /readyz while Postgres is down.
    const ready = new StatusTally();
    let namesPostgres = 0;
    let readyChecks = 0;
    while (Date.now() - down < o.downMs) {
      const r = await svc.readyz();
      readyChecks += 1;
      ready.add(r?.status ?? 0);
      if (r?.status === 503 && JSON.stringify(r.body).includes('postgres')) namesPostgres += 1;
      await sleep(500);
    }
    const restartBegin = Date.now();
    await env.pg.start();
    const back = Date.now();
    await sleep(5_000);
    await poster.stop();
    figures.push(
      `Postgres SIGKILLed after ${secs(o.upMs)}, down ${secs(restartBegin - down)}, ` +
        `restart took ${secs(back - restartBegin)}`,
    );
    figures.push(
      `/readyz while down: ${ready.text()} (${namesPostgres} of ${readyChecks} name postgres)`,
    );
    if (ready.get(503) !== readyChecks)
      violations.push(`/readyz while Postgres was down: ${ready.text()}`);
    if (namesPostgres !== readyChecks) violations.push('/readyz did not name postgres every time');
    figures.push(`POST overall: ${poster.tally().text()}`);
    const bad = poster.tally().outside([202, 503]);
    if (Object.keys(bad).length > 0)
      violations.push(`statuses other than 202/503: ${JSON.stringify(bad)}`);

    const missing = await awaitReadModel(
      p.setup.databaseUrl,
      poster.accepted.map((i) => i.id),
      o.settleMs,
      [svc],
    );
    figures.push(
      `202'd incidents: ${poster.accepted.length}, missing from the read model: ${missing.length}`,
    );
    if (missing.length > 0)
      violations.push(`${missing.length} 202'd incidents not in the read model`);
    const verdict = await awaitBreaches(p.pager, poster.accepted, o.settleMs, [svc]);
    figures.push(describeVerdict(verdict));
    const afterBack = p.pager.breaches().filter((b) => b.receivedAt >= back);
    const firstAfter = Math.min(...afterBack.map((b) => b.receivedAt));
    figures.push(
      `firing resumed ${secs(firstAfter - back)} after Postgres was back (goal ≤ 10 s; printed, not asserted)`,
    );
    violations.push(...verdictViolations(verdict));
    figures.push(
      `service process: ${svc.pid === pid ? 'same pid throughout' : 'restarted'}, exits by itself: ${svc.unexpectedExits}`,
    );
    if (svc.unexpectedExits > 0 || svc.pid !== pid) {
      violations.push(
        `the service exited (crash) during the outage:\n${svc.output().slice(-3000)}`,
      );
    }
  } finally {
    if (!alive(env.pg.pid())) await env.pg.start().catch(() => undefined);
    await p.pager.stop();
    await svc.stop();
  }
  figures.push(`load average ${loadAverage()}`);
  return { name, figures, violations };
}

// ---------------------------------------------------------------------------------------------
// 4. Two instances with all roles on one database and topic

export async function twoInstances(
  env: ChaosEnv,
  o: { incidents: number; spreadMs: number; settleMs: number },
): Promise<ScenarioResult> {
  const name = 'two-instances';
  const p = await prepare(env, 'two');
  const a = new ServiceProcess({ ...p.setup, label: `${p.setup.label}-a` }, env.nextPort());
  const b = new ServiceProcess({ ...p.setup, label: `${p.setup.label}-b` }, env.nextPort());
  const figures: string[] = [];
  const violations: string[] = [];
  a.start();
  b.start();
  try {
    await Promise.all([a.waitReady(), b.waitReady()]);
    await p.pager.start();
    const start = Date.now() + 15_000;
    const incidents = Array.from({ length: o.incidents }, (_, i) =>
      plan(p.label, start + (i * o.spreadMs) / o.incidents),
    );
    const tally = new StatusTally();
    const half = Math.ceil(incidents.length / 2);
    const accepted = [
      ...(await postAll(a.baseUrl, p.setup.writeToken, incidents.slice(0, half), tally, 100)),
      ...(await postAll(b.baseUrl, p.setup.writeToken, incidents.slice(half), tally, 100)),
    ];
    figures.push(`posted ${incidents.length} incidents, half to each instance: ${tally.text()}`);
    if (accepted.length !== incidents.length) violations.push(`only ${accepted.length} accepted`);
    const verdict = await awaitBreaches(p.pager, accepted, o.spreadMs + o.settleMs, [a, b]);
    // Give a second firing a chance to show up before judging "once".
    await sleep(3_000);
    const final = judge(p.pager, accepted);
    figures.push(describeVerdict(final.lost <= verdict.lost ? final : verdict));
    const warnings = [...p.pager.byId.values()].filter((r) => r.type === 'sla.warning');
    const warnKeys = new Set(warnings.map((w) => `${w.incidentId}/${w.milestone}`));
    figures.push(`warnings: ${warnings.length} ids for ${warnKeys.size} (incident, milestone)`);
    if (warnings.length !== warnKeys.size) violations.push('a warning fired under two ids');
    violations.push(...verdictViolations(final));
    for (const s of [a, b]) {
      if (s.unexpectedExits > 0) violations.push(`${s.setup.label} exited by itself`);
    }
  } finally {
    await p.pager.stop();
    await Promise.all([a.stop(), b.stop()]);
  }
  figures.push(`load average ${loadAverage()}`);
  return { name, figures, violations };
}

// ---------------------------------------------------------------------------------------------
// 5. Overload: five times what the service accepts

export async function overload(
  env: ChaosEnv,
  o: {
    calibrateMs: number;
    overloadMs: number;
    factor: number;
    maxConnections: number;
    rssLimitMb: number;
  },
): Promise<ScenarioResult> {
  const name = 'overload';
  // One API key carries the whole load here; the per-key rate limit would answer 429 long before
  // the service itself is under pressure, so it is off and the load shedding is what is tested.
  const p = await prepare(env, 'over', { RATE_LIMIT_MAX: '0' });
  const svc = new ServiceProcess(p.setup, env.nextPort());
  const figures: string[] = [];
  const violations: string[] = [];
  svc.start();
  const pool = new RawHttpPool(svc.port, o.maxConnections);
  let n = 0;
  const request = () => {
    n += 1;
    const event = reportEvent({ id: `${p.label}-${n}`, dueAt: Date.now() + RESPONSE_MS });
    return pool.request({
      method: 'POST',
      path: '/v1/events',
      headers: {
        authorization: `Bearer ${p.setup.writeToken}`,
        'content-type': 'application/cloudevents+json',
      },
      body: JSON.stringify(event),
    });
  };
  try {
    await svc.waitReady();
    const rssIdle = svc.rss();
    // Calibration: closed loop, 32 in flight.
    const calib = new StatusTally();
    const calibEnd = Date.now() + o.calibrateMs;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (Date.now() < calibEnd) calib.add(await request().catch(() => 0));
      }),
    );
    const capacity = (calib.get(202) / o.calibrateMs) * 1000;
    figures.push(
      `capacity (closed loop, 32 in flight, ${secs(o.calibrateMs)}): ${capacity.toFixed(0)} accepted/s (${calib.text()})`,
    );
    const rate = Math.max(50, capacity * o.factor);

    // Overload: open loop at factor × capacity; a request finding all connections busy is not
    // sent (the client is at its limit) and counted apart.
    const tally = new StatusTally();
    let notSent = 0;
    let inFlight = 0;
    let rssMax = 0;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, svc.rss())), 250);
    const started = Date.now();
    const pending: Promise<void>[] = [];
    let sent = 0;
    while (Date.now() - started < o.overloadMs) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent < due) {
        sent += 1;
        if (inFlight >= o.maxConnections) {
          notSent += 1;
          continue;
        }
        inFlight += 1;
        pending.push(
          request()
            .then(
              (s) => tally.add(s),
              () => tally.add(0),
            )
            .finally(() => (inFlight -= 1)),
        );
      }
      await sleep(5);
    }
    await Promise.all(pending);
    clearInterval(sampler);
    const elapsed = Date.now() - started;
    figures.push(
      `offered ${rate.toFixed(0)}/s (${o.factor}×) for ${secs(elapsed)}: ${tally.text()}; ` +
        `not sent (all ${o.maxConnections} connections busy): ${notSent}`,
    );
    figures.push(
      `accepted ${((tally.get(202) / elapsed) * 1000).toFixed(0)}/s under overload; RSS idle ` +
        `${(rssIdle / 2 ** 20).toFixed(0)} MB, max ${(rssMax / 2 ** 20).toFixed(0)} MB (limit ${o.rssLimitMb} MB)`,
    );
    const bad = tally.outside([202, 429, 503]);
    if (Object.keys(bad).length > 0)
      violations.push(`statuses other than 202/429/503: ${JSON.stringify(bad)}`);
    if (rssMax > o.rssLimitMb * 2 ** 20)
      violations.push(`RSS ${(rssMax / 2 ** 20).toFixed(0)} MB over ${o.rssLimitMb} MB`);
    const after = await svc.readyz();
    figures.push(`after the overload /readyz: ${after?.status ?? 'no answer'}`);
    if (!svc.running || svc.unexpectedExits > 0) violations.push('the service died under overload');
  } finally {
    pool.close();
    await p.pager.stop();
    await svc.stop();
  }
  figures.push(`load average ${loadAverage()}`);
  return { name, figures, violations };
}
