/**
 * `npm run rebuild [-- --dry-run] [--concurrency N]`: replays incident.events from offset 0 into
 * fresh tables and switches to them (src/projector/rebuild.ts). Safe while the service runs: the
 * live projector continues from the rebuilt position, and nothing already fired fires again.
 * --dry-run builds and prints checksums next to the live tables' without switching.
 */
import { parseArgs } from 'node:util';
import { createPolicyStore, loadConfiguredPolicy } from '../application/policy-store';
import { loadConfig } from '../config';
import { systemClock } from '../infra/clock';
import { createPool, ensureDatabase } from '../infra/db';
import { createKafka } from '../infra/kafka';
import { createLogger } from '../infra/logger';
import { migrate } from '../infra/migrate';
import { projectionChecksums, rebuildProjection } from '../projector/rebuild';

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'dry-run': { type: 'boolean', default: false },
      concurrency: { type: 'string' },
    },
  });
  const config = loadConfig();
  const log = createLogger(config.LOG_LEVEL);
  const concurrency = Number(values.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    throw new Error('--concurrency must be an integer from 1 to 64');
  }
  await ensureDatabase(config.DATABASE_URL);
  const pool = createPool(config.DATABASE_URL, { max: concurrency + 2 });
  const kafka = createKafka(
    { brokers: config.KAFKA_BROKERS, clientId: `${config.KAFKA_CLIENT_ID}-rebuild` },
    log,
  );
  try {
    await migrate(pool, log);
    const policies = createPolicyStore(pool, await loadConfiguredPolicy(config.POLICY_FILE), log);
    await policies.ensureDefault(systemClock.now());
    const report = await rebuildProjection(
      { pool, kafka, log, clock: systemClock, policies },
      {
        groupId: config.PROJECTOR_GROUP_ID,
        topic: config.KAFKA_TOPIC_EVENTS,
        maxEventBytes: config.PROJECTOR_MAX_EVENT_BYTES,
        concurrency,
        // Bigger fetches than live: a rebuild wants throughput, not latency.
        fetchMaxBytes: Math.max(config.PROJECTOR_FETCH_MAX_BYTES, 8 * 1024 * 1024),
        dryRun: values['dry-run'],
      },
    );
    const rate = report.seconds > 0 ? Math.round(report.records / report.seconds) : report.records;
    const lines = [
      `rebuild ${report.swapped ? 'swapped in' : 'built (dry run, live tables kept)'}: ` +
        `${report.records} records, ${report.events} events applied in ${report.seconds.toFixed(1)} s (${rate} records/s)`,
    ];
    const live = values['dry-run'] ? await projectionChecksums(pool) : null;
    for (const [table, sum] of Object.entries(report.checksums)) {
      lines.push(`  ${table.padEnd(18)} ${sum}${live ? `   live ${live[table]}` : ''}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await pool.end();
  }
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`rebuild failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
