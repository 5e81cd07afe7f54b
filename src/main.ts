import { ConfigError, loadConfig } from './config';
import { createContext, startApp } from './composition';
import { autovacuumOff } from './infra/autovacuum';
import { ensureDatabase } from './infra/db';
import { createLogger } from './infra/logger';
import { migrate } from './infra/migrate';

export interface RunOptions {
  /** Runs after a graceful stop, before the process exits (`npm run up`: stop its own broker). */
  afterStop?: () => Promise<void>;
}

/**
 * The service in this process: config (from the environment), migrations, roles; a graceful stop
 * on SIGTERM and SIGINT, then `afterStop`, then exit. Rejects when it cannot start (the caller
 * exits). The process entry point below, and `npm run up` in its own process (scripts/up.ts: one
 * process start less after a crash, issue 12).
 */
export async function runService({ afterStop }: RunOptions = {}): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.LOG_LEVEL);
  await ensureDatabase(config.DATABASE_URL);
  const context = createContext(config, log);
  await migrate(context.pool, log);
  const vacuum = await autovacuumOff(context.pool);
  if (vacuum !== null) log.warn({ component: 'storage' }, vacuum);
  const app = await startApp(context);

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    force.unref();
    app
      .stop()
      .then(() => afterStop?.())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (require.main === module) {
  runService().catch((err: unknown) => {
    process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
