/**
 * What integration and e2e tests import to reach the infrastructure that global-setup.ts brought up
 * for this run: broker list, the run's own database, unique names, topic creation and a
 * poll-with-deadline helper (tests never sleep blindly).
 */
import net from 'node:net';
import { createPool, ensureDatabase, quoteIdent, type Pool } from '../../src/infra/db';
import { defaultMigrationsDir, migrate } from '../../src/infra/migrate';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics } from '../../scripts/kafka-local';

export interface TestConfig {
  brokers: string[];
  /** This run's own database (created by global setup, dropped by teardown). */
  databaseUrl: string;
  runId: string;
  uniqueTopic(base: string): string;
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run this test through jest's integration or e2e project (global setup)`,
    );
  }
  return value;
}

export function testConfig(): TestConfig {
  return {
    brokers: requireEnv('KAFKA_BROKERS').split(','),
    databaseUrl: requireEnv('TEST_DATABASE_URL'),
    runId: requireEnv('TEST_RUN_ID'),
    uniqueTopic,
  };
}

let counter = 0;

/**
 * A topic (or group id) name no other test, worker or run uses: `t.<runId>.<base>.<n><random>`.
 * The run prefix lets teardown delete this run's topics from a broker that outlives it.
 */
export function uniqueTopic(base: string): string {
  counter += 1;
  return `${requireEnv('TEST_TOPIC_PREFIX')}${base}.${counter}${randomBytes(3).toString('hex')}`;
}

export type TopicInput = string | { name: string; partitions?: number; retentionMs?: number };

/** Creates the topics (1 partition unless said otherwise) and waits for their leaders. */
export async function createTopics(
  topics: TopicInput[],
  brokers: string[] = testConfig().brokers,
): Promise<void> {
  await ensureTopics(
    brokers,
    topics.map((t) =>
      typeof t === 'string' ? { name: t, partitions: 1 } : { partitions: 1, ...t },
    ),
  );
}

/** A kafkajs client for tests: quiet (WARN would print every expected rebalance), few retries. */
export function testKafka(clientId = 'test'): Kafka {
  return new Kafka({
    clientId,
    brokers: testConfig().brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 3 },
  });
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Names what was awaited, for the timeout message. */
  what?: string;
}

/**
 * Polls `fn` until it returns something other than undefined/null/false without throwing, and
 * returns that. A throwing `fn` (e.g. a failing `expect`) is retried; on timeout the last error is
 * rethrown inside the timeout error, so the test shows why it was still failing.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50, what = 'condition' }: WaitForOptions = {},
): Promise<Exclude<T, undefined | null | false>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = undefined;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false)
        return value as Exclude<T, undefined | null | false>;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why =
        last instanceof Error
          ? `: ${last.message}`
          : last === undefined
            ? ''
            : `: ${JSON.stringify(last)}`;
      throw new Error(`waitFor timed out after ${timeoutMs} ms waiting for ${what}${why}`, {
        cause: last,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A TCP port nothing listens on right now (the OS picks it), for a server a test starts itself. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface OwnDatabase {
  url: string;
  pool: Pool;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database of a test file's own (named after the run's database plus `label`),
 * so list totals, reports, projectors and rebuilds see only that file's rows. TEST_MIGRATIONS_DIR
 * tries a migration before it joins the shared migrations/ folder.
 */
/** Drops a test database (sessions still connected are ended), via the server's `postgres` db. */
export async function dropDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new URL(serverUrl);
  admin.pathname = '/postgres';
  const pool = createPool(admin.toString(), { max: 1 });
  try {
    await pool.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  } finally {
    await pool.end();
  }
}

export async function ownDatabase(label: string, poolSize = 8): Promise<OwnDatabase> {
  const base = new URL(testConfig().databaseUrl);
  const name = `${base.pathname.slice(1)}_${label}_${Math.random().toString(36).slice(2, 7)}`;
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  await ensureDatabase(url.toString());
  const pool = createPool(url.toString(), { max: poolSize });
  await migrate(pool, undefined, process.env.TEST_MIGRATIONS_DIR ?? defaultMigrationsDir);
  return {
    url: url.toString(),
    pool,
    drop: async () => {
      await pool.end();
      await dropDatabase(base.toString(), name);
    },
  };
}
