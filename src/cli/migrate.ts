import { loadConfig } from '../config';
import { createPool, ensureDatabase } from '../infra/db';
import { createLogger } from '../infra/logger';
import { migrate } from '../infra/migrate';

/** `npm run migrate`: creates the database when missing and applies pending migrations. */
async function run(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, { max: 1 });
  try {
    const { applied } = await migrate(pool, log);
    log.info({ applied: applied.length }, 'database is up to date');
  } finally {
    await pool.end();
  }
}

run().catch((err: unknown) => {
  process.stderr.write(`migrate failed: ${(err as Error).message}\n`);
  process.exit(1);
});
