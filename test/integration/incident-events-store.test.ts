/**
 * `incident_events` as the projector's idempotency record (migrations/0017, src/tables/
 * incident-events.ts), against real Postgres: the migration carries the digests of
 * `applied_events` over and refuses tables that disagree; the primary key (source, event_id)
 * takes a (source, id) once, whatever incident it names, and the digest read back is the one
 * written (a duplicate and a conflict are told apart by it, apply-batch.ts sortOut).
 * Each block migrates a schema of its own in the run's database.
 */
import { copyFile, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '../../src/infra/db';
import { defaultMigrationsDir, migrate } from '../../src/infra/migrate';
import {
  DIGESTS_OF_EVENTS,
  digestsByKey,
  timelineInsert,
  type DigestTuple,
  type TimelineRow,
} from '../../src/tables/incident-events';

const FOLD = '0017_fold_applied_events.sql';
const hex = (c: string) => c.repeat(64);

/** The project's migrations before 0017, in a folder of their own. */
async function migrationsBefore(file: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'migrations-'));
  for (const f of await readdir(defaultMigrationsDir)) {
    if (/^\d{4}_[\w-]+\.sql$/.test(f) && f < file) {
      await copyFile(path.join(defaultMigrationsDir, f), path.join(dir, f));
    }
  }
  return dir;
}

async function schemaPool(schema: string): Promise<Pool> {
  const admin = createPool(process.env.DATABASE_URL!, { max: 1 });
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  return createPool(process.env.DATABASE_URL!, { max: 2, options: `-c search_path=${schema}` });
}

async function dropSchema(pool: Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
}

/** One lifecycle event as the projector wrote it before 0017: a timeline row and an applied id. */
async function insertBefore0017(
  pool: Pool,
  e: { incidentId: string; id: string; offset: number; digest: string; applied?: boolean },
): Promise<void> {
  await pool.query(
    `INSERT INTO incident_events (incident_id, source, event_id, type, time, data,
       kafka_partition, kafka_offset, accepted_at, recorded_at)
     VALUES ($1, '/src', $2, 'incident.acknowledged', '2026-11-01T10:00:00Z', '{"by":"desk"}',
       1, $3, '2026-11-01T10:00:01Z', '2026-11-01T10:00:02Z')`,
    [e.incidentId, e.id, e.offset],
  );
  if (e.applied === false) return;
  await pool.query(
    `INSERT INTO applied_events (source, event_id, incident_id, digest)
     VALUES ('/src', $1, $2, decode($3, 'hex'))`,
    [e.id, e.incidentId, e.digest],
  );
}

describe('migration 0017 folds applied_events into incident_events', () => {
  const schema = `fold_test_${process.pid}`;
  let pool: Pool;

  beforeAll(async () => {
    pool = await schemaPool(schema);
  });
  afterAll(async () => {
    await dropSchema(pool, schema);
  });

  it('carries every event and its digest over, and drops applied_events', async () => {
    await migrate(pool, undefined, await migrationsBefore(FOLD));
    await insertBefore0017(pool, { incidentId: 'INC-1', id: 'e1', offset: 7, digest: hex('a') });
    await insertBefore0017(pool, { incidentId: 'INC-1', id: 'e2', offset: 9, digest: hex('b') });
    await insertBefore0017(pool, { incidentId: 'INC-2', id: 'e3', offset: 8, digest: hex('c') });

    // 0017 first, then whatever came after it.
    expect((await migrate(pool)).applied[0]).toBe(FOLD);

    const { rows } = await pool.query(
      `SELECT incident_id, source, event_id, type, data, kafka_partition,
              kafka_offset::int AS kafka_offset, time, accepted_at, recorded_at,
              encode(digest, 'hex') AS digest
       FROM incident_events ORDER BY event_id`,
    );
    const row = (incidentId: string, id: string, offset: number, digest: string) => ({
      incident_id: incidentId,
      source: '/src',
      event_id: id,
      type: 'incident.acknowledged',
      data: { by: 'desk' },
      kafka_partition: 1,
      kafka_offset: offset,
      time: new Date('2026-11-01T10:00:00Z'),
      accepted_at: new Date('2026-11-01T10:00:01Z'),
      recorded_at: new Date('2026-11-01T10:00:02Z'),
      digest,
    });
    expect(rows).toEqual([
      row('INC-1', 'e1', 7, hex('a')),
      row('INC-1', 'e2', 9, hex('b')),
      row('INC-2', 'e3', 8, hex('c')),
    ]);
    const gone = await pool.query(`SELECT to_regclass('${schema}.applied_events') AS t`);
    expect(gone.rows[0].t).toBeNull();
    const keys = await pool.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index
       WHERE indrelid = '${schema}.incident_events'::regclass ORDER BY 1`,
    );
    expect(keys.rows.map((r) => r.def.replace(`${schema}.`, ''))).toEqual([
      'CREATE INDEX incident_events_incident_idx ON incident_events USING btree (incident_id)',
      `CREATE INDEX incident_events_report_time_idx ON incident_events USING btree ("time") WHERE (type = ANY (ARRAY['incident.dispatched'::text, 'incident.arrived'::text, 'incident.followed_up'::text]))`,
      'CREATE UNIQUE INDEX incident_events_pkey ON incident_events USING btree (source, event_id)',
    ]);
  });

  it('stops, changing nothing, when an event has no applied id', async () => {
    const other = `${schema}_b`;
    const scratch = await schemaPool(other);
    try {
      await migrate(scratch, undefined, await migrationsBefore(FOLD));
      await insertBefore0017(scratch, { incidentId: 'I', id: 'x', offset: 1, digest: hex('d') });
      await insertBefore0017(scratch, {
        incidentId: 'I',
        id: 'y',
        offset: 2,
        digest: hex('e'),
        applied: false,
      });
      await expect(migrate(scratch)).rejects.toThrow(
        /0017_fold_applied_events.sql failed: incident_events and applied_events disagree \(1 events without a digest, 0 applied ids/,
      );
      const { rows } = await scratch.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM incident_events)::int
              + (SELECT count(*) FROM applied_events)::int AS n`,
      );
      expect(rows[0]!.n).toBe(3);
    } finally {
      await dropSchema(scratch, other);
    }
  });
});

describe('incident_events: the idempotency key', () => {
  const schema = `idem_key_test_${process.pid}`;
  let pool: Pool;

  beforeAll(async () => {
    pool = await schemaPool(schema);
    await migrate(pool);
  });
  afterAll(async () => {
    await dropSchema(pool, schema);
  });

  const event = (incidentId: string, id: string, digest: string): TimelineRow => ({
    incidentId,
    source: '/src',
    eventId: id,
    type: 'incident.acknowledged',
    time: Date.parse('2026-11-01T10:00:00Z'),
    acceptedAt: Date.parse('2026-11-01T10:00:00Z'),
    data: {},
    partition: 0,
    offset: 1n,
    digest,
  });
  const insert = async (rows: TimelineRow[]) => {
    const stmt = timelineInsert(rows);
    return (await pool.query(stmt.text, stmt.values)).rowCount;
  };

  it('takes a (source, id) once, whatever its content or incident, and returns its digest', async () => {
    expect(await insert([event('INC-1', 'k1', hex('1')), event('INC-1', 'k2', hex('2'))])).toBe(2);
    // Redelivered, reused with other content, reused for another incident: none is inserted.
    expect(await insert([event('INC-1', 'k1', hex('1'))])).toBe(0);
    expect(await insert([event('INC-1', 'k1', hex('9'))])).toBe(0);
    expect(await insert([event('INC-2', 'k2', hex('2'))])).toBe(0);
    // The same id from another source is another event.
    expect(await insert([{ ...event('INC-2', 'k1', hex('3')), source: '/other' }])).toBe(1);

    const { rows } = await pool.query<{ digests: DigestTuple[] }>(
      `SELECT ${DIGESTS_OF_EVENTS} AS digests, $1::text[] AS unused`,
      [[], ['/src', '/src', '/other', '/src'], ['k1', 'k2', 'k1', 'k9']],
    );
    expect(digestsByKey(rows[0]!.digests)).toEqual(
      new Map([
        ['/src\u0000k1', hex('1')],
        ['/src\u0000k2', hex('2')],
        ['/other\u0000k1', hex('3')],
      ]),
    );
  });
});
