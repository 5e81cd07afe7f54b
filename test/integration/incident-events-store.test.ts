/**
 * `incident_events` as the projector's idempotency record (migrations/0017, 0019, src/tables/
 * incident-events.ts), against real Postgres: 0017 carries the digests of `applied_events` over
 * and refuses tables that disagree; 0019 keys the table by `event_key` (16 bytes of sha256 of the
 * source, a zero byte and the id, computed by Postgres: pinned here to the same formula in
 * node:crypto) and keeps the first 16 bytes of each digest; the key takes a (source, id) once,
 * whatever incident it names, and the digest read back is the one written (a duplicate and a
 * conflict are told apart by it, apply-batch.ts sortOut).
 * Each block migrates a schema of its own in the run's database.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createPool, type Pool } from '../../src/infra/db';
import { INCIDENT_EVENT_TYPES } from '../../src/domain';
import { defaultMigrationsDir, migrate } from '../../src/infra/migrate';
import {
  DIGESTS_OF_EVENTS,
  digestsByKey,
  timelineInsert,
  type DigestTuple,
  type TimelineRow,
} from '../../src/tables/incident-events';

const FOLD = '0017_fold_applied_events.sql';
const NARROW = '0019_narrow_event_key.sql';
/** A digest as 0017 stored it (32 bytes) and as 0019 does (16 bytes), in hex. */
const hex = (c: string) => c.repeat(64);
const hex16 = (c: string) => c.repeat(32);

/** What sla_event_key must compute (migrations/0019), written independently of it. */
const eventKeyOf = (source: string, id: string): string =>
  createHash('sha256')
    .update(Buffer.concat([Buffer.from(source, 'utf8'), Buffer.from([0]), Buffer.from(id, 'utf8')]))
    .digest('hex')
    .slice(0, 32);

/** The project's migrations before `file`, in a folder of their own. */
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

/** A row the migration tests insert (source `/src`, an acknowledgement), as read back after them. */
function migratedRow(incidentId: string, id: string, offset: number) {
  return {
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
  };
}

/** The definitions of `incident_events`' indexes in `schema`, without the schema's name. */
async function indexesOfIncidentEvents(pool: Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query<{ def: string }>(
    `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index
     WHERE indrelid = '${schema}.incident_events'::regclass ORDER BY 1`,
  );
  return rows.map((r) => r.def.replace(`${schema}.`, ''));
}

/**
 * A schema of its own for one describe block's tests (`db.pool` searches it first): created before
 * them, dropped after.
 */
function useScratchSchema(schema: string): { pool: Pool } {
  const db = {} as { pool: Pool };
  beforeAll(async () => {
    db.pool = await schemaPool(schema);
  });
  afterAll(async () => {
    await dropSchema(db.pool, schema);
  });
  return db;
}

describe('migration 0017 folds applied_events into incident_events', () => {
  const schema = `fold_test_${process.pid}`;
  const db = useScratchSchema(schema);

  it('carries every event and its digest over, and drops applied_events', async () => {
    await migrate(db.pool, undefined, await migrationsBefore(FOLD));
    await insertBefore0017(db.pool, { incidentId: 'INC-1', id: 'e1', offset: 7, digest: hex('a') });
    await insertBefore0017(db.pool, { incidentId: 'INC-1', id: 'e2', offset: 9, digest: hex('b') });
    await insertBefore0017(db.pool, { incidentId: 'INC-2', id: 'e3', offset: 8, digest: hex('c') });

    // 0017 and what came after it, up to 0019 (which changes the table again: tested below).
    expect((await migrate(db.pool, undefined, await migrationsBefore(NARROW))).applied[0]).toBe(
      FOLD,
    );

    const { rows } = await db.pool.query(
      `SELECT incident_id, source, event_id, type, data, kafka_partition,
              kafka_offset::int AS kafka_offset, time, accepted_at, recorded_at,
              encode(digest, 'hex') AS digest
       FROM incident_events ORDER BY event_id`,
    );
    const row = (incidentId: string, id: string, offset: number, digest: string) => ({
      ...migratedRow(incidentId, id, offset),
      digest,
    });
    expect(rows).toEqual([
      row('INC-1', 'e1', 7, hex('a')),
      row('INC-1', 'e2', 9, hex('b')),
      row('INC-2', 'e3', 8, hex('c')),
    ]);
    const gone = await db.pool.query(`SELECT to_regclass('${schema}.applied_events') AS t`);
    expect(gone.rows[0].t).toBeNull();
    expect(await indexesOfIncidentEvents(db.pool, schema)).toEqual([
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

describe('migration 0019 keys incident_events by a 16-byte hash of (source, id)', () => {
  const schema = `narrow_test_${process.pid}`;
  const db = useScratchSchema(schema);

  /** One lifecycle event as the projector wrote it from 0017 to 0019 (a 32-byte digest). */
  const insertBefore0019 = (incidentId: string, id: string, offset: number, digest: string) =>
    db.pool.query(
      `INSERT INTO incident_events (incident_id, source, event_id, type, time, data,
         kafka_partition, kafka_offset, accepted_at, recorded_at, digest)
       VALUES ($1, '/src', $2, 'incident.acknowledged', '2026-11-01T10:00:00Z', '{"by":"desk"}',
         1, $3, '2026-11-01T10:00:01Z', '2026-11-01T10:00:02Z', decode($4, 'hex'))`,
      [incidentId, id, offset, digest],
    );

  it('carries every event over with its key and the first 16 bytes of its digest', async () => {
    await migrate(db.pool, undefined, await migrationsBefore(NARROW));
    await insertBefore0019('INC-1', 'e1', 7, hex('a'));
    await insertBefore0019('INC-2', 'e3', 8, `${hex16('c')}${hex16('d')}`);
    await insertBefore0019('INC-1', 'e2', 9, hex('b'));

    expect((await migrate(db.pool)).applied[0]).toBe(NARROW);

    const { rows } = await db.pool.query(
      `SELECT incident_id, source, event_id, type, data, kafka_partition,
              kafka_offset::int AS kafka_offset, time, accepted_at, recorded_at,
              encode(event_key, 'hex') AS event_key, encode(digest, 'hex') AS digest
       FROM incident_events ORDER BY event_id`,
    );
    const row = (incidentId: string, id: string, offset: number, digest: string) => ({
      ...migratedRow(incidentId, id, offset),
      event_key: eventKeyOf('/src', id),
      digest,
    });
    expect(rows).toEqual([
      row('INC-1', 'e1', 7, hex16('a')),
      row('INC-1', 'e2', 9, hex16('b')),
      row('INC-2', 'e3', 8, hex16('c')),
    ]);
    expect(await indexesOfIncidentEvents(db.pool, schema)).toEqual([
      'CREATE INDEX incident_events_incident_idx ON incident_events USING btree (incident_id)',
      `CREATE INDEX incident_events_report_time_idx ON incident_events USING btree ("time") WHERE (type = ANY (ARRAY['incident.dispatched'::incident_event_type, 'incident.arrived'::incident_event_type, 'incident.followed_up'::incident_event_type]))`,
      'CREATE UNIQUE INDEX incident_events_pkey ON incident_events USING btree (event_key)',
    ]);
    // Only Postgres writes the key.
    await expect(
      db.pool.query(
        `INSERT INTO incident_events (incident_id, source, event_id, type, time, data,
           kafka_partition, kafka_offset, digest, event_key)
         VALUES ('INC-3', '/src', 'e4', 'incident.acknowledged', now(), '{}', 1, 10,
           decode($1, 'hex'), decode($1, 'hex'))`,
        [hex16('e')],
      ),
    ).rejects.toThrow(/cannot insert a non-DEFAULT value into column "event_key"/);
  });

  it('types events with the enum of exactly the projector event types, in text order', async () => {
    const { rows } = await db.pool.query<{ labels: string[] }>(
      `SELECT enum_range(NULL::incident_event_type)::text[] AS labels`,
    );
    expect(rows[0]!.labels).toEqual([...INCIDENT_EVENT_TYPES].sort());
  });

  it('stops, changing nothing, when a stored event type is not one of them', async () => {
    const other = `${schema}_b`;
    const scratch = await schemaPool(other);
    try {
      await migrate(scratch, undefined, await migrationsBefore(NARROW));
      await scratch.query(
        `INSERT INTO incident_events (incident_id, source, event_id, type, time, data,
           kafka_partition, kafka_offset, digest)
         VALUES ('I', '/src', 'x', 'incident.teleported', now(), '{}', 0, 1, decode($1, 'hex'))`,
        [hex('f')],
      );
      await expect(migrate(scratch)).rejects.toThrow(
        /0019_narrow_event_key.sql failed: incident_events holds event types this release does not know: incident.teleported/,
      );
      const { rows } = await scratch.query<{ n: number; type: string }>(
        `SELECT count(*)::int AS n, pg_typeof(min(type))::text AS type FROM incident_events`,
      );
      expect(rows[0]).toEqual({ n: 1, type: 'text' });
    } finally {
      await dropSchema(scratch, other);
    }
  });
});

describe('incident_events: the idempotency key', () => {
  const schema = `idem_key_test_${process.pid}`;
  const db = useScratchSchema(schema);
  beforeAll(() => migrate(db.pool));

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
    return (await db.pool.query(stmt.text, stmt.values)).rowCount;
  };

  it('takes a (source, id) once, whatever its content or incident, and returns its digest', async () => {
    expect(await insert([event('INC-1', 'k1', hex16('1')), event('INC-1', 'k2', hex16('2'))])).toBe(
      2,
    );
    // Redelivered, reused with other content, reused for another incident: none is inserted.
    expect(await insert([event('INC-1', 'k1', hex16('1'))])).toBe(0);
    expect(await insert([event('INC-1', 'k1', hex16('9'))])).toBe(0);
    expect(await insert([event('INC-2', 'k2', hex16('2'))])).toBe(0);
    // The same id from another source is another event.
    expect(await insert([{ ...event('INC-2', 'k1', hex16('3')), source: '/other' }])).toBe(1);

    const { rows } = await db.pool.query<{ digests: DigestTuple[] }>(
      `SELECT ${DIGESTS_OF_EVENTS} AS digests, $1::text[] AS unused`,
      [[], ['/src', '/src', '/other', '/src'], ['k1', 'k2', 'k1', 'k9']],
    );
    expect(digestsByKey(rows[0]!.digests)).toEqual(
      new Map([
        ['/src\u0000k1', hex16('1')],
        ['/src\u0000k2', hex16('2')],
        ['/other\u0000k1', hex16('3')],
      ]),
    );
  });

  it('is keyed by sla_event_key, the same 16 bytes of sha256 as computed outside Postgres', async () => {
    const pairs: [string, string][] = [
      ['/servicedesk', 'e-1'],
      // The zero byte between them: moving text across the boundary changes the key.
      ['/a', 'bc'],
      ['/ab', 'c'],
      ['', ''],
      ['/长葛', 'Störung-🛠'],
      ['urn:uuid:5b8c0e50', '9f7e2d1c-0b4a-4f3e-9a8d-7c6b5a493827'],
    ];
    const stored = pairs.map(([source, id], i) => ({
      ...event(`INC-KEY-${i}`, id, hex16('4')),
      source,
    }));
    expect(await insert(stored)).toBe(pairs.length);
    const { rows } = await db.pool.query<{
      source: string;
      id: string;
      stored: string;
      fn: string;
    }>(
      `SELECT e.source, e.event_id AS id, encode(e.event_key, 'hex') AS stored,
              encode(sla_event_key(e.source, e.event_id), 'hex') AS fn
       FROM incident_events e WHERE e.incident_id LIKE 'INC-KEY-%'`,
    );
    const expected = (source: string, id: string) => {
      const key = eventKeyOf(source, id);
      return { source, id, stored: key, fn: key };
    };
    const byPair = (a: { source: string; id: string }, b: { source: string; id: string }) =>
      a.source === b.source ? (a.id < b.id ? -1 : 1) : a.source < b.source ? -1 : 1;
    expect([...rows].sort(byPair)).toEqual(
      pairs.map(([source, id]) => expected(source, id)).sort(byPair),
    );
    expect(new Set(rows.map((r) => r.stored)).size).toBe(pairs.length);
  });
});
