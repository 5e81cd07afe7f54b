/**
 * Jest global setup for the integration and e2e projects: finds or brings up a real Kafka and a real
 * Postgres, gives this test run its own database and topic prefix, and hands them to the test
 * workers through process.env (workers are spawned after this runs, so they inherit it).
 *
 * Where the infrastructure comes from, per service, first match wins:
 *   1. KAFKA_BROKERS / DATABASE_URL from the environment (CI services, docker compose, a dev's own);
 *   2. testcontainers, when a Docker engine answers (TEST_INFRA=local skips this probe);
 *   3. the local broker of scripts/kafka-local.ts on KAFKA_LOCAL_PORT or 9092 (started if not
 *      running, stopped at the end only if a test run started it and no other run still uses it)
 *      and the local Postgres at postgres://postgres@127.0.0.1:5432.
 * Anything that cannot be brought up throws: an integration run never silently skips.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { CACHE_DIR, kafkaStatus, startKafka, stopKafka } from '../../scripts/kafka-local';

/** What teardown needs; kept on globalThis because setup and teardown are separate modules. */
export interface InfraState {
  runId: string;
  /** Undo steps, run last-first by global-teardown. */
  cleanups: Array<{ what: string; run: () => Promise<void> }>;
}

const STATE_KEY = Symbol.for('sla-timer.test-infra');
type WithState = typeof globalThis & { [STATE_KEY]?: InfraState };

export function infraState(): InfraState | undefined {
  return (globalThis as WithState)[STATE_KEY];
}

export function clearInfraState(): void {
  delete (globalThis as WithState)[STATE_KEY];
}

const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

export default async function globalSetup(): Promise<void> {
  // Jest calls a global setup once per project that lists it; the first call does the work.
  if (infraState()) return;
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`; // [a-z0-9]: valid in db and topic names
  const state: InfraState = { runId, cleanups: [] };
  (globalThis as WithState)[STATE_KEY] = state;

  try {
    const docker = lazyDockerProbe();
    const kafka = await provideKafka(state, docker);
    const postgres = await providePostgres(state, docker);
    const databaseUrl = await createRunDatabase(state, postgres.url);

    Object.assign(process.env, {
      TEST_RUN_ID: runId,
      TEST_TOPIC_PREFIX: `t.${runId}.`,
      KAFKA_BROKERS: kafka.brokers,
      DATABASE_URL: databaseUrl,
      TEST_DATABASE_URL: databaseUrl,
      TEST_INFRA_KAFKA: kafka.source,
      TEST_INFRA_POSTGRES: postgres.source,
    });
  } catch (err) {
    // Leave nothing behind (a started broker, a container) when the run cannot go on.
    const { default: globalTeardown } = await import('./global-teardown');
    await globalTeardown().catch(() => {});
    throw err;
  }
}

type Source = 'env' | 'testcontainers' | 'local';

async function provideKafka(
  state: InfraState,
  docker: () => Promise<boolean>,
): Promise<{ brokers: string; source: Source }> {
  const fromEnv = process.env.KAFKA_BROKERS;
  if (fromEnv) {
    await assertKafkaAnswers(fromEnv, `KAFKA_BROKERS=${fromEnv}`);
    state.cleanups.push({
      what: 'delete this run’s topics',
      run: () => deleteRunTopics(fromEnv, `t.${state.runId}.`),
    });
    return { brokers: fromEnv, source: 'env' };
  }
  if (await docker()) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    // cp-kafka 8.x is Apache Kafka 4.x in KRaft mode, like the local broker.
    const container = await new KafkaContainer(
      process.env.TEST_KAFKA_IMAGE ?? 'confluentinc/cp-kafka:8.0.0',
    ).start();
    state.cleanups.push({
      what: 'stop Kafka container',
      run: async () => void (await container.stop()),
    });
    return {
      brokers: `${container.getHost()}:${container.getMappedPort(9093)}`,
      source: 'testcontainers',
    };
  }
  const port = Number(process.env.KAFKA_LOCAL_PORT ?? 9092);
  const lease = takeBrokerLease(port);
  const broker = await startKafka({ port });
  if (broker.startedHere) fs.writeFileSync(startedByTestsFile(port), String(broker.pid));
  state.cleanups.push({
    what: `release local Kafka on ${broker.brokers}`,
    run: () => releaseBroker(port, lease),
  });
  state.cleanups.push({
    what: 'delete this run’s topics',
    run: () => deleteRunTopics(broker.brokers, `t.${state.runId}.`),
  });
  return { brokers: broker.brokers, source: 'local' };
}

// Several engineers (and CI) may run integration tests in this tree at once, sharing one local
// broker. Each run holds a lease file named by its pid; a broker that a test run started is stopped
// by the last run to leave, so no run pulls the broker from under another. A broker started by hand
// (`npm run kafka -- start`) is never stopped by tests.
const leaseDir = (port: number) => path.join(CACHE_DIR, `test-leases-${port}`);
const startedByTestsFile = (port: number) =>
  path.join(CACHE_DIR, `broker-${port}.started-by-tests`);

function takeBrokerLease(port: number): string {
  fs.mkdirSync(leaseDir(port), { recursive: true });
  const lease = path.join(leaseDir(port), String(process.pid));
  fs.writeFileSync(lease, '');
  return lease;
}

async function releaseBroker(port: number, lease: string): Promise<void> {
  fs.rmSync(lease, { force: true });
  const others = fs.readdirSync(leaseDir(port)).filter((pid) => {
    if (pidAlive(Number(pid))) return true;
    fs.rmSync(path.join(leaseDir(port), pid), { force: true }); // a run that crashed
    return false;
  });
  if (others.length > 0) return;
  const { pid } = await kafkaStatus({ port });
  const startedByTests =
    fs.existsSync(startedByTestsFile(port)) &&
    fs.readFileSync(startedByTestsFile(port), 'utf8') === String(pid);
  fs.rmSync(startedByTestsFile(port), { force: true });
  if (startedByTests) await stopKafka({ port });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function providePostgres(
  state: InfraState,
  docker: () => Promise<boolean>,
): Promise<{ url: string; source: Source }> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) return { url: fromEnv, source: 'env' };
  if (await docker()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer(
      process.env.TEST_POSTGRES_IMAGE ?? 'postgres:15-alpine',
    ).start();
    state.cleanups.push({
      what: 'stop Postgres container',
      run: async () => void (await container.stop()),
    });
    return { url: container.getConnectionUri(), source: 'testcontainers' };
  }
  return { url: LOCAL_POSTGRES, source: 'local' };
}

/** One database per test run, dropped by teardown, so runs never see each other's rows. */
async function createRunDatabase(state: InfraState, adminUrl: string): Promise<string> {
  const name = `sla_test_${state.runId}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  state.cleanups.push({
    what: `drop database ${name}`,
    // FORCE (Postgres 13+): a test that leaked a pool connection must not keep the database alive.
    run: () =>
      withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => {},
      ),
  });
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    const where = url.replace(/(\/\/[^:@/]*):[^@/]*@/, '$1:…@'); // no password in the message
    throw new Error(
      `Postgres not reachable at ${where} (${err instanceof Error ? err.message : String(err)}); ` +
        'start it, or set DATABASE_URL',
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function assertKafkaAnswers(brokers: string, label: string): Promise<void> {
  const admin = quietAdmin(brokers);
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    throw new Error(
      `Kafka at ${label} does not answer: ${err instanceof Error ? err.message : String(err)}`,
    );
  } finally {
    await admin.disconnect();
  }
}

/** A broker this run did not start outlives it: remove what the run created there. */
async function deleteRunTopics(brokers: string, prefix: string): Promise<void> {
  const admin = quietAdmin(brokers);
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}

function quietAdmin(brokers: string) {
  return new Kafka({
    clientId: 'test-global-setup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 2 },
  }).admin();
}

// ---------------------------------------------------------------------------------------------
// Docker probe: must answer within about a second when there is no engine, never hang.
// ---------------------------------------------------------------------------------------------

/** Probes once, on first use (not at all when both services come from the environment). */
function lazyDockerProbe(): () => Promise<boolean> {
  let answer: Promise<boolean> | undefined;
  return () => (answer ??= dockerAnswers());
}

async function dockerAnswers(): Promise<boolean> {
  const mode = process.env.TEST_INFRA;
  if (mode === 'local') return false;
  const host = process.env.DOCKER_HOST;
  let ok = false;
  if (host?.startsWith('tcp://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    ok = await tcpAnswers(u.hostname, Number(u.port || 2375));
  } else {
    const sockets = host?.startsWith('unix://')
      ? [host.slice('unix://'.length)]
      : [
          '/var/run/docker.sock',
          path.join(os.homedir(), '.docker', 'run', 'docker.sock'),
          path.join(os.homedir(), '.docker', 'desktop', 'docker.sock'),
          ...(process.env.XDG_RUNTIME_DIR
            ? [path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock')]
            : []),
        ];
    for (const socketPath of sockets.filter((s) => fs.existsSync(s))) {
      if ((ok = await pingSocket(socketPath))) break;
    }
  }
  if (mode === 'testcontainers' && !ok) {
    throw new Error(
      'TEST_INFRA=testcontainers, but no Docker engine answers (DOCKER_HOST or /var/run/docker.sock)',
    );
  }
  return ok;
}

function pingSocket(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

function tcpAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
