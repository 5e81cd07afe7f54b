/**
 * Rebuild: replay incident.events from offset 0 into fresh tables, then switch to them.
 *
 * Mechanism (kept simple on purpose):
 *   1. Create a shadow schema with empty copies of the projector-owned tables
 *      (`CREATE TABLE … (LIKE public.t INCLUDING ALL)`: columns, defaults, checks, indexes).
 *   2. Consume the topic with a throw-away consumer group up to the high watermarks taken at the
 *      start, through the very batch code the live projector runs, with `search_path` pointing at
 *      the shadow schema. Side effects are off: outbox, escalations and timer_fires are never
 *      rebuilt, and timers whose (key, generation) already fired are not planned again, so a
 *      rebuild cannot re-fire anything.
 *   3. Swap in one transaction: lock the live tables (projector_offsets first, the order every
 *      projector transaction takes them in), carry each partition's epoch and owner over to the
 *      new offsets, move the live tables out and the new ones in, re-create the views and
 *      triggers that pointed at the old tables (views bind to tables, not names), drop the old
 *      tables. Readers see the old tables or the new ones, never a mix.
 *   4. The live projector, if running, finds its stored position changed (same epoch, another
 *      offset) and continues from the rebuilt position: the events that arrived during the
 *      rebuild are applied to the new tables by the live projector itself.
 */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { Registry } from 'prom-client';
import type { PolicyStore } from '../application/policy-store';
import type { Clock } from '../infra/clock';
import { quoteIdent, withTransaction, type Pool, type PoolClient } from '../infra/db';
import { subscribeWithStoredOffsets } from '../infra/kafka-consumer';
import type { Logger } from '../infra/logger';
import { createProjectorMetrics } from './metrics';
import { createBatchHandler } from './projector';

/** The projector-owned tables, in lock order (see apply-batch.ts: offsets first). */
export const PROJECTOR_TABLES = [
  'projector_offsets',
  'incidents',
  'milestones',
  'incident_events',
  'applied_events',
  'timers',
] as const;

export interface RebuildOptions {
  /** The live projector's group id: the rebuilt offsets are stored under it. */
  groupId: string;
  topic: string;
  maxEventBytes: number;
  concurrency: number;
  fetchMaxBytes: number;
  /** Build and compare, but keep the live tables (the shadow schema is dropped). */
  dryRun?: boolean;
}

export interface RebuildDeps {
  pool: Pool;
  kafka: Kafka;
  log: Logger;
  clock: Clock;
  policies: PolicyStore;
}

export interface RebuildReport {
  schema: string;
  records: number;
  events: number;
  seconds: number;
  swapped: boolean;
  /** Checksums of the rebuilt tables (before the swap), see `projectionChecksums`. */
  checksums: Record<string, string>;
}

export async function rebuildProjection(
  deps: RebuildDeps,
  options: RebuildOptions,
): Promise<RebuildReport> {
  const log = deps.log.child({ component: 'rebuild' });
  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const schema = `projector_rebuild_${id}`;
  const started = Date.now();

  const admin = deps.kafka.admin();
  await admin.connect();
  let targets: Map<number, bigint>;
  try {
    const offsets = await admin.fetchTopicOffsets(options.topic);
    const truncated = offsets.filter((o) => BigInt(o.low) > 0n);
    if (truncated.length > 0) {
      throw new Error(
        `${options.topic} no longer holds every event (partitions ${truncated.map((o) => o.partition).join(', ')} start after offset 0); a rebuild would lose history`,
      );
    }
    targets = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  } finally {
    await admin.disconnect();
  }

  await createShadow(deps.pool, schema);
  let swapped = false;
  try {
    const metrics = createProjectorMetrics(new Registry());
    const records = await replay(deps, options, schema, targets, metrics, log);
    const events = Number(await metrics.eventsApplied.get().then((m) => m.values[0]?.value ?? 0));
    const checksums = await projectionChecksums(deps.pool, schema);
    const seconds = (Date.now() - started) / 1000;
    log.info({ schema, records, events, seconds }, 'rebuilt; swapping');
    if (!options.dryRun) {
      await swapIn(deps.pool, schema, log);
      swapped = true;
    }
    return { schema, records, events, seconds, swapped, checksums };
  } finally {
    if (!swapped) {
      await deps.pool
        .query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`)
        .catch((err: unknown) => log.error({ err, schema }, 'could not drop the shadow schema'));
    }
  }
}

async function createShadow(pool: Pool, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await withTransaction(pool, async (client) => {
    await client.query(`CREATE SCHEMA ${s}`);
    for (const table of PROJECTOR_TABLES) {
      await client.query(`CREATE TABLE ${s}.${table} (LIKE public.${table} INCLUDING ALL)`);
    }
    // LIKE copies no storage parameters (0004 tunes autovacuum of the timers queue).
    const { rows } = await client.query<{ name: string; options: string[] | null }>(
      `SELECT c.relname AS name, c.reloptions AS options FROM pg_class c
       WHERE c.oid = ANY($1::regclass[]) AND c.reloptions IS NOT NULL`,
      [PROJECTOR_TABLES.map((t) => `public.${t}`)],
    );
    for (const r of rows) {
      if (r.options?.length)
        await client.query(`ALTER TABLE ${s}.${quoteIdent(r.name)} SET (${r.options.join(', ')})`);
    }
    // LIKE copies no foreign keys; this one keeps a milestone from outliving its incident.
    await client.query(
      `ALTER TABLE ${s}.milestones ADD FOREIGN KEY (incident_id)
       REFERENCES ${s}.incidents (incident_id) ON DELETE CASCADE`,
    );
  });
}

/** Consumes every partition up to its target offset; returns the records read. */
async function replay(
  deps: RebuildDeps,
  options: RebuildOptions,
  schema: string,
  targets: Map<number, bigint>,
  metrics: ReturnType<typeof createProjectorMetrics>,
  log: Logger,
): Promise<number> {
  const remaining = new Set([...targets].filter(([, high]) => high > 0n).map(([p]) => p));
  const total = [...targets.values()].reduce((a, b) => a + b, 0n);
  if (remaining.size === 0) return 0;
  const progress = new Map<number, bigint>();
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const handler = createBatchHandler(
    { pool: deps.pool, log, clock: deps.clock, policies: deps.policies, metrics },
    {
      settings: {
        offsets: { groupId: options.groupId, topic: options.topic },
        sideEffects: false,
        topics: { warnings: '', escalations: '' },
        schema,
      },
      owner: `rebuild:${schema}`,
      maxEventBytes: options.maxEventBytes,
      dlq: null,
      onCommitted(partition, next) {
        progress.set(partition, next);
        if (next >= (targets.get(partition) ?? 0n)) remaining.delete(partition);
        if (remaining.size === 0) finish();
      },
    },
  );
  const groupId = `${options.groupId}.rebuild.${schema}`;
  const subscription = subscribeWithStoredOffsets(
    deps.kafka,
    {
      groupId,
      topic: options.topic,
      concurrency: options.concurrency,
      maxBytesPerPartition: options.fetchMaxBytes,
    },
    handler,
    log,
  );
  const ticker = setInterval(() => {
    const done = [...progress.values()].reduce((a, b) => a + b, 0n);
    log.info({ done: String(done), total: String(total) }, 'rebuild progress');
  }, 5_000);
  try {
    await subscription.start();
    await finished;
  } finally {
    clearInterval(ticker);
    await subscription.stop();
    // The throw-away group holds nothing worth keeping.
    const admin = deps.kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect());
  }
  return Number(total);
}

/**
 * The swap transaction. `lock_timeout` keeps it from queueing every reader behind it for long
 * if a long query holds a table; the caller may simply run the rebuild again.
 */
async function swapIn(pool: Pool, schema: string, log: Logger): Promise<void> {
  const s = quoteIdent(schema);
  const prev = quoteIdent(`${schema}_old`);
  await withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = '15s'`);
    await client.query(`SET LOCAL search_path = public`);
    await client.query(
      `LOCK TABLE ${PROJECTOR_TABLES.map((t) => `public.${t}`).join(', ')} IN ACCESS EXCLUSIVE MODE`,
    );
    const views = await dependentViews(client);
    const triggers = await tableTriggers(client);

    // Live members keep their epochs (so the next batch sees "moved", not "fenced").
    await client.query(
      `UPDATE ${s}.projector_offsets n SET epoch = o.epoch, owner = o.owner
       FROM public.projector_offsets o
       WHERE (n.group_id, n.topic, n.partition) = (o.group_id, o.topic, o.partition)`,
    );
    await client.query(
      `INSERT INTO ${s}.projector_offsets (group_id, topic, partition, next_offset, epoch, owner)
       SELECT o.group_id, o.topic, o.partition, 0, o.epoch, o.owner FROM public.projector_offsets o
       ON CONFLICT DO NOTHING`,
    );
    // Timers that fired while the rebuild ran (the scheduler would skip them anyway).
    await client.query(
      `DELETE FROM ${s}.timers t USING public.timer_fires f
       WHERE f.timer_key = t.timer_key AND f.generation = t.generation`,
    );

    await client.query(`CREATE SCHEMA ${prev}`);
    for (const t of PROJECTOR_TABLES)
      await client.query(`ALTER TABLE public.${t} SET SCHEMA ${prev}`);
    for (const t of PROJECTOR_TABLES) await client.query(`ALTER TABLE ${s}.${t} SET SCHEMA public`);
    for (const v of views) {
      await client.query(`CREATE OR REPLACE VIEW ${v.name} AS ${v.definition}`);
    }
    for (const t of triggers) await client.query(t.definition);
    // No CASCADE: anything still bound to the old tables fails the swap instead of vanishing.
    await client.query(`DROP TABLE ${PROJECTOR_TABLES.map((t) => `${prev}.${t}`).join(', ')}`);
    await client.query(`DROP SCHEMA ${prev}`);
    await client.query(`DROP SCHEMA ${s}`);
    log.info({ views: views.map((v) => v.name), triggers: triggers.map((t) => t.name) }, 'swapped');
  });
}

/** Views reading the live tables directly (views over those views keep pointing at them). */
async function dependentViews(client: PoolClient): Promise<{ name: string; definition: string }[]> {
  const { rows } = await client.query<{ name: string; definition: string; kind: string }>(
    `SELECT DISTINCT v.oid::regclass::text AS name, pg_get_viewdef(v.oid) AS definition,
            v.relkind::text AS kind, v.oid
     FROM pg_depend d
     JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
     JOIN pg_class v ON v.oid = r.ev_class
     WHERE d.refclassid = 'pg_class'::regclass
       AND d.refobjid = ANY($1::regclass[])
       AND v.oid <> d.refobjid
     ORDER BY v.oid`,
    [PROJECTOR_TABLES.map((t) => `public.${t}`)],
  );
  const materialized = rows.filter((r) => r.kind !== 'v');
  if (materialized.length > 0) {
    throw new Error(
      `materialized views depend on the projector tables (${materialized.map((r) => r.name).join(', ')}); refusing to swap`,
    );
  }
  return rows;
}

/** User triggers of the live tables (LIKE does not copy them), as CREATE TRIGGER statements. */
async function tableTriggers(client: PoolClient): Promise<{ name: string; definition: string }[]> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `SELECT t.tgname AS name, pg_get_triggerdef(t.oid) AS definition
     FROM pg_trigger t
     WHERE t.tgrelid = ANY($1::regclass[]) AND NOT t.tgisinternal
     ORDER BY t.tgrelid, t.tgname`,
    [PROJECTOR_TABLES.map((t) => `public.${t}`)],
  );
  return rows;
}

/**
 * One md5 per projector table over every row, leaving out what depends on when a row was written
 * (updated_at, recorded_at, applied_at) and the fencing bookkeeping (epoch, owner). Equal
 * checksums: identical read models.
 */
export async function projectionChecksums(
  pool: Pool | PoolClient,
  schema = 'public',
): Promise<Record<string, string>> {
  const s = quoteIdent(schema);
  const drop: Record<(typeof PROJECTOR_TABLES)[number], string[]> = {
    projector_offsets: ['updated_at', 'epoch', 'owner'],
    incidents: ['updated_at'],
    milestones: ['updated_at'],
    incident_events: ['recorded_at'],
    applied_events: ['applied_at'],
    timers: ['updated_at'],
  };
  const out: Record<string, string> = {};
  for (const table of PROJECTOR_TABLES) {
    const minus = drop[table].map((c) => ` - '${c}'`).join('');
    const { rows } = await pool.query<{ n: string; md5: string | null }>(
      `SELECT count(*) AS n, md5(string_agg(r, E'\\n' ORDER BY r)) AS md5
       FROM (SELECT (to_jsonb(t)${minus})::text AS r FROM ${s}.${table} t) x`,
    );
    out[table] = `${rows[0]?.n ?? 0}:${rows[0]?.md5 ?? '-'}`;
  }
  return out;
}
