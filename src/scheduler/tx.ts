import type { Pool, PoolClient } from '../infra/db';

/**
 * `withTransaction` (src/infra/db.ts) with one option: `asyncCommit` makes COMMIT return before
 * the WAL is flushed (SET LOCAL synchronous_commit = off). Only for transactions whose loss in a
 * Postgres crash is harmless, i.e. redone with the same outcome: see the callers. BEGIN and the
 * SET travel as one simple query, so the option costs no round trip.
 */
export async function inTransaction<T>(
  pool: Pool,
  options: { asyncCommit: boolean },
  fn: (client: PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(options.asyncCommit ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
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
