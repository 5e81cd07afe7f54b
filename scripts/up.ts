/**
 * `npm run up`: everything needed to run the service on its defaults on this machine, in the
 * foreground. Starts (or reuses) the local Kafka broker, makes sure the database exists and is
 * migrated (the service creates its topics itself, KAFKA_CREATE_TOPICS), prints a development API
 * key, then runs every role in this process. Ctrl-C stops the service and the broker if this
 * script started it.
 */
import path from 'node:path';
import { Pool } from 'pg';
import { ConfigError, loadConfig, type Config } from '../src/config';
import { ensureDatabase } from '../src/infra/db';
import { KafkaLocalError, startKafka } from './kafka-local';
import { ensureDevApiKey } from './dev-api-key';
import { runService } from '../src/main';

const ROOT = path.resolve(__dirname, '..');

function say(line: string): void {
  process.stdout.write(`[up] ${line}\n`);
}

/** One clear line for what the user has to fix, then exit. */
function stop(line: string): never {
  process.stderr.write(`[up] ${line}\n`);
  process.exit(1);
}

async function checkPostgres(config: Config): Promise<void> {
  const url = new URL(config.DATABASE_URL);
  url.pathname = '/postgres';
  const pool = new Pool({
    connectionString: url.toString(),
    max: 1,
    connectionTimeoutMillis: 3_000,
  });
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    stop(
      `Postgres is not reachable at ${url.host} (${(err as Error).message}); start it ` +
        `(pg_ctlcluster 15 main start) or set DATABASE_URL, or use \`docker compose up\` instead`,
    );
  } finally {
    await pool.end();
  }
  await ensureDatabase(config.DATABASE_URL);
}

/**
 * Stops the service (gracefully, as SIGTERM does) when the process that started it is gone. `npm`
 * killed with SIGKILL cannot pass the signal on, and the service would outlive it holding its port:
 * the next `npm run up` could not listen. Node has no parent-death signal; `process.ppid` is read
 * anew on each call, so this polls it every `intervalMs`.
 */
function stopWithParent(intervalMs = 200): void {
  const parent = process.ppid;
  if (parent <= 1) return; // orphaned already: nothing to watch
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer); // one SIGTERM: a second one would end the graceful stop
    say(`the process that started this one (pid ${parent}) is gone; stopping`);
    process.kill(process.pid, 'SIGTERM');
  }, intervalMs);
  timer.unref();
}

const USAGE = `usage: npm run up
Runs the service on its defaults, or on the variables of README "Configuration" (HTTP_PORT,
DATABASE_URL, KAFKA_BROKERS, KAFKA_TOPIC_PREFIX, PROJECTOR_GROUP_ID, ...). Without KAFKA_BROKERS it
starts (or reuses) the local Kafka broker on 127.0.0.1:9092. Takes no arguments.`;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length > 0) {
    const help = args.every((a) => a === '--help' || a === '-h');
    (help ? process.stdout : process.stderr).write(`${USAGE}\n`);
    process.exit(help ? 0 : 2);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) stop(err.message.replace(/\n\s*/g, '; '));
    throw err;
  }
  await checkPostgres(config);

  // KAFKA_BROKERS set to something other than the default means "use that broker", not ours.
  const useLocalBroker = !process.env.KAFKA_BROKERS;
  let stopOwnBroker: () => Promise<void> = async () => undefined;
  if (useLocalBroker) {
    say(
      'starting the local Kafka broker, or reusing one on its port (the first run fetches the jars)',
    );
    try {
      const kafka = await startKafka({
        port: Number(config.KAFKA_BROKERS[0]?.split(':')[1] ?? 9092),
      });
      say(
        kafka.startedHere
          ? `Kafka ready at ${kafka.brokers} in ${kafka.readyMs} ms`
          : `reusing Kafka at ${kafka.brokers}`,
      );
      if (kafka.startedHere) {
        stopOwnBroker = async () => {
          say('stopping the local Kafka broker');
          await kafka.stop();
        };
      }
    } catch (err) {
      if (err instanceof KafkaLocalError) stop(err.message);
      throw err;
    }
  }

  if (!process.env.API_KEYS) {
    const key = await ensureDevApiKey(path.join(ROOT, '.local', 'dev-api-key'));
    process.env.API_KEYS = key.configEntry;
    say(`development API key (every scope), also in .local/dev-api-key:`);
    say(`  Authorization: Bearer ${key.token}`);
  }

  say(
    `starting the service on http://${config.HTTP_HOST}:${config.HTTP_PORT} (Ctrl-C stops everything)`,
  );
  // The service runs in this process, not a child: after a crash, `npm run up` again starts one
  // process, not two (issue 12: restart to firing). Ctrl-C and SIGTERM stop it gracefully
  // (src/main.ts), then the broker if this script started it.
  stopWithParent();
  await runService({ afterStop: stopOwnBroker }).catch(async (err: unknown) => {
    process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
    await stopOwnBroker();
    process.exit(1);
  });
}

main().catch((err: unknown) => stop(`failed: ${(err as Error).stack ?? String(err)}`));
