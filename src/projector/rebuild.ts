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
 *   3. Catch up with the live projector: read its stored offsets and replay up to them, first
 *      without a lock, then once more inside the swap transaction, which holds an EXCLUSIVE lock
 *      on the live projector_offsets (every live batch transaction starts by updating that table,
 *      so live projection pauses for this short final stretch; readers are not blocked).
 *   4. Swap, in that same transaction: carry each partition's epoch and owner over to the new
 *      offsets, move the live tables out and the new ones in, re-create the views and triggers
 *      that pointed at the old tables (views bind to tables, not names), drop the old tables.
 *      Readers see the old tables or the new ones, never a mix. The live projector's waiting
 *      statement then runs against the new tables, whose offsets equal (or, if the final replay
 *      read further, pass) its own: it continues, or seeks forward ("moved").
 */
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import type { PolicyStore } from '../application/policy-store';
import type { Clock } from '../infra/clock';
import { quoteIdent, withTransaction, type Pool, type PoolClient } from '../infra/db';
import type { Kafka } from '../infra/kafka';
import { subscribeWithStoredOffsets } from '../infra/kafka-consumer';
import type { Logger } from '../infra/logger';
import { INSPECTION_TIMER_PREFIX } from '../domain';
import { createProjectorMetrics } from './metrics';
import { storedOffsets } from './offsets';
import { createBatchHandler } from './projector';

/** The projector-owned tables, in lock order (see apply-batch.ts: offsets first). */
export const PROJECTOR_TABLES = [
  'projector_offsets',
  'incidents',
  'milestones',
  'incident_events',
  'timers',
  'incident_costs',
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
  /** Runs between the replay and the swap (tests use it to move the live projector ahead). */
  beforeSwap?: () => Promise<void>;
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
  /** From the start until the replay reached the high watermarks taken at the start, indexes built. */
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
  const metrics = createProjectorMetrics(new Registry());
  const phases: Record<string, number> = { prepare: Date.now() - started };
  const replayer = startReplay(deps, options, schema, metrics, log);
  let swapped = false;
  try {
    await replayer.reach(targets);
    phases.replay = Date.now() - started - phases.prepare!;
    await finishShadow(deps.pool, schema);
    const seconds = (Date.now() - started) / 1000;
    phases.indexes = seconds * 1000 - phases.prepare! - phases.replay;
    log.debug({ ms: phases }, 'rebuild phases');
    const records = Number([...targets.values()].reduce((a, b) => a + b, 0n));
    const events = Number(await metrics.eventsApplied.get().then((m) => m.values[0]?.value ?? 0));
    const checksums = await projectionChecksums(deps.pool, schema);
    log.info({ schema, records, events, seconds }, 'replayed');
    if (!options.dryRun) {
      // Most of the way to the live projector without any lock, the rest under it.
      await replayer.reach(await storedOffsets(deps.pool, offsetsKey(options)));
      await options.beforeSwap?.();
      await swapIn(deps.pool, schema, log, async (client) =>
        replayer.reach(await storedOffsets(client, offsetsKey(options))),
      );
      swapped = true;
    }
    return { schema, records, events, seconds, swapped, checksums };
  } finally {
    await replayer.stop();
    if (!swapped) {
      await deps.pool
        .query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`)
        .catch((err: unknown) => log.error({ err, schema }, 'could not drop the shadow schema'));
    }
  }
}

const offsetsKey = (o: RebuildOptions) => ({ groupId: o.groupId, topic: o.topic });

/**
 * Secondary indexes the replay reads through, built with the shadow tables instead of after the
 * replay: every batch reads its incidents' earlier events by incident_id (store.ts), which
 * without this index would scan the whole shadow timeline each time (migrations/0017).
 */
export const REPLAY_INDEXES: readonly string[] = ['incident_events_incident_idx'];

/**
 * Empty, unlogged copies of the live tables, with only their primary keys and unique constraints
 * (the replay needs those for lookups and ON CONFLICT) and the REPLAY_INDEXES. The other indexes
 * and the foreign key are built once the bulk of the replay is in (finishShadow): one sort per
 * index instead of an index update per row.
 */
async function createShadow(pool: Pool, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  await withTransaction(pool, async (client) => {
    await client.query(`CREATE SCHEMA ${s}`);
    for (const table of PROJECTOR_TABLES) {
      await client.query(
        `CREATE UNLOGGED TABLE ${s}.${table} (LIKE public.${table} INCLUDING ALL EXCLUDING INDEXES)`,
      );
    }
    const { rows: keys } = await client.query<{ table: string; name: string; def: string }>(
      `SELECT c.conrelid::regclass::text AS table, c.conname AS name,
              pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c
       WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u', 'x')`,
      [PROJECTOR_TABLES.map((t) => `public.${t}`)],
    );
    for (const k of keys) {
      const table = k.table.replace(/^public\./, '');
      await client.query(`ALTER TABLE ${s}.${table} ADD CONSTRAINT ${quoteIdent(k.name)} ${k.def}`);
    }
    for (const def of await indexDefinitions(client, schema, 'replay')) await client.query(def);
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
  });
}

/**
 * Makes the shadow tables durable (they are UNLOGGED while the bulk of the replay goes in: no
 * per-row WAL; a crash meanwhile only means running the rebuild again), then adds the secondary
 * indexes and the foreign key of the live tables, and fresh statistics.
 */
async function finishShadow(pool: Pool, schema: string): Promise<void> {
  const s = quoteIdent(schema);
  // One bulk write of each table to the WAL (what a replica or a crash recovery needs).
  for (const table of PROJECTOR_TABLES) await pool.query(`ALTER TABLE ${s}.${table} SET LOGGED`);
  for (const def of await indexDefinitions(pool, schema, 'rest')) await pool.query(def);
  // LIKE copies no foreign keys; this one keeps a milestone from outliving its incident.
  await pool.query(
    `ALTER TABLE ${s}.milestones ADD FOREIGN KEY (incident_id)
     REFERENCES ${s}.incidents (incident_id) ON DELETE CASCADE`,
  );
  // The swapped-in tables must not wait for autovacuum to get statistics (the read API's plans).
  for (const table of PROJECTOR_TABLES) await pool.query(`ANALYZE ${s}.${table}`);
}

/**
 * CREATE INDEX statements for the shadow schema: the live tables' indexes that back no
 * constraint (constraints are copied by createShadow), either the REPLAY_INDEXES or the rest.
 */
async function indexDefinitions(
  db: Pool | PoolClient,
  schema: string,
  which: 'replay' | 'rest',
): Promise<string[]> {
  const s = quoteIdent(schema);
  const { rows } = await db.query<{ table: string; name: string; def: string }>(
    `SELECT i.indrelid::regclass::text AS table, c.relname AS name,
            pg_get_indexdef(i.indexrelid) AS def
     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
     WHERE i.indrelid = ANY($1::regclass[])
       AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
    [PROJECTOR_TABLES.map((t) => `public.${t}`)],
  );
  return rows
    .filter((r) => REPLAY_INDEXES.includes(r.name) === (which === 'replay'))
    .map((r) => {
      const table = r.table.replace(/^public\./, '');
      const def = r.def.replace(
        new RegExp(`ON (ONLY )?(public\\.)?${table} USING`),
        `ON ${s}.${table} USING`,
      );
      if (def === r.def) throw new Error(`cannot re-target index definition: ${r.def}`);
      return def;
    });
}

interface Replay {
  /** Resolves once every partition's rebuilt position is at or past its target. */
  reach(targets: Map<number, bigint>): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A consumer (throw-away group) that applies the topic to the shadow schema and keeps running
 * until stopped, so the rebuild can chase moving targets.
 */
function startReplay(
  deps: RebuildDeps,
  options: RebuildOptions,
  schema: string,
  metrics: ReturnType<typeof createProjectorMetrics>,
  log: Logger,
): Replay {
  const progress = new Map<number, bigint>();
  const waiters = new Set<() => void>();
  const handler = createBatchHandler(
    { pool: deps.pool, log, clock: deps.clock, policies: deps.policies, metrics },
    {
      settings: {
        offsets: offsetsKey(options),
        sideEffects: false,
        topics: { warnings: '', escalations: '' },
        schema,
      },
      owner: `rebuild:${schema}`,
      maxEventBytes: options.maxEventBytes,
      dlq: null,
      onCommitted(partition, next) {
        progress.set(partition, next);
        for (const wake of [...waiters]) wake();
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
  const started = subscription.start();
  let stopped = false;

  const done = (targets: Map<number, bigint>) =>
    [...targets].every(([p, target]) => target <= 0n || (progress.get(p) ?? 0n) >= target);

  return {
    async reach(targets) {
      await started;
      const total = [...targets.values()].reduce((a, b) => a + b, 0n);
      const ticker = setInterval(() => {
        const at = [...progress.values()].reduce((a, b) => a + b, 0n);
        log.info({ done: String(at), target: String(total) }, 'rebuild progress');
      }, 5_000);
      try {
        while (!done(targets)) {
          if (stopped) throw new Error('rebuild stopped');
          // Woken by each committed batch, or after a second at the latest.
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            waiters.add(resolve);
            timer = setTimeout(resolve, 1_000);
          });
          clearTimeout(timer);
          waiters.clear();
        }
      } finally {
        clearInterval(ticker);
      }
    },
    async stop() {
      stopped = true;
      await started.catch(() => undefined);
      await subscription.stop();
      // The throw-away group holds nothing worth keeping.
      const admin = deps.kafka.admin();
      await admin
        .connect()
        .then(() => admin.deleteGroups([groupId]))
        .catch(() => undefined)
        .finally(() => admin.disconnect());
    },
  };
}

/**
 * The swap transaction. `lock_timeout` keeps it from queueing every reader behind it for long
 * if a long query holds a table; the caller may simply run the rebuild again.
 */
async function swapIn(
  pool: Pool,
  schema: string,
  log: Logger,
  catchUp: (client: PoolClient) => Promise<void>,
): Promise<void> {
  const s = quoteIdent(schema);
  const prev = quoteIdent(`${schema}_old`);
  await withTransaction(pool, async (client) => {
    await client.query(`SET LOCAL lock_timeout = '15s'`);
    await client.query(`SET LOCAL search_path = public`);
    // Live batches wait from here on (their first statement updates this table); reads go on.
    await client.query(`LOCK TABLE public.projector_offsets IN EXCLUSIVE MODE`);
    await catchUp(client);
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
    // Inspection timers are written by the API, not projected from the log: carried over.
    await client.query(
      `INSERT INTO ${s}.timers SELECT * FROM public.timers WHERE starts_with(incident_id, $1)`,
      [INSPECTION_TIMER_PREFIX],
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
 * (updated_at, recorded_at) and the fencing bookkeeping (epoch, owner). Equal
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
    timers: ['updated_at'],
    incident_costs: [],
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
