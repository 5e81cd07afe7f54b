import { Pool, type PoolClient, type PoolConfig } from 'pg';

export type { Pool, PoolClient };

/**
 * The one Postgres module. Queries are logged by their callers without parameters; pg itself logs
 * nothing. Timestamps travel as timestamptz and come back as JS Dates.
 */
export function createPool(connectionString: string, options: Partial<PoolConfig> = {}): Pool {
  const pool = new Pool({
    connectionString,
    max: 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    // A lost server must not hang a request: statements are bounded, idle transactions are killed.
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
    application_name: 'sla-timer',
    ...options,
  });
  // An idle client losing its connection (Postgres restarted) must not crash the process; the pool
  // replaces it and /readyz reports the outage.
  pool.on('error', () => undefined);
  // The same for a client that is checked out when the server goes away (Postgres killed: the
  // server sends 57P01 to every session): its running query rejects, which is how the caller
  // learns of it, but the client also emits 'error', and with no listener that ends the process
  // (found by the fault suite). pg-pool drops such a client when it is released.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

export interface TransactionOptions {
  /**
   * COMMIT returns before the WAL is flushed (SET LOCAL synchronous_commit = off). Only for
   * transactions whose loss in a Postgres crash is harmless, i.e. redone with the same outcome:
   * see the callers. BEGIN and the SET travel as one simple query, so the option costs no round
   * trip.
   */
  asyncCommit?: boolean;
  /**
   * The callback's first query opens the transaction itself: it starts with `beginStatement(…)`
   * and adds its own first statements to the same simple query, saving a round trip (the
   * projector's offset fence, src/projector/offsets.ts). The helper still commits or rolls back.
   */
  callerBegins?: boolean;
}

/** `BEGIN`, with the SET LOCAL the options ask for, as one simple-protocol query text. */
export function beginStatement(options: Pick<TransactionOptions, 'asyncCommit'> = {}): string {
  return options.asyncCommit ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN';
}

/**
 * The one transaction helper: runs `fn` on one pooled client in one transaction, COMMIT on
 * success, ROLLBACK on any throw, the client released either way.
 */
export async function withTransaction<T>(
  pool: Pool,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  try {
    if (!options.callerBegins) await client.query(beginStatement(options));
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Creates the database named in `connectionString` when it is missing (for `npm run up` and tests). */
export async function ensureDatabase(connectionString: string): Promise<void> {
  const url = new URL(connectionString);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name) return;
  url.pathname = '/postgres';
  const admin = new Pool({
    connectionString: url.toString(),
    max: 1,
    connectionTimeoutMillis: 5_000,
  });
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await admin.query(`CREATE DATABASE ${quoteIdent(name)}`).catch((err: { code?: string }) => {
        // Created meanwhile by another process: 42P04, or 23505 when both CREATEs ran at once
        // (two instances started together on a new database; found by the fault suite).
        if (err.code !== '42P04' && err.code !== '23505') throw err;
      });
    }
  } finally {
    await admin.end();
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
