/**
 * GET /v1/stream over real Postgres and a real socket: rows written as the projector and the
 * scheduler would write them reach the client through the 0005 triggers, NOTIFY and the feed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { StreamFeed, type FeedCursor } from '../../src/application/stream-feed';
import { ApiKeyStore, createApiKey } from '../../src/http/api-keys';
import { installAuth } from '../../src/http/auth';
import { buildServer } from '../../src/http/server';
import { registerStreamRoutes, StreamHub } from '../../src/http/stream';
import { systemClock } from '../../src/infra/clock';
import { createPool, type Pool } from '../../src/infra/db';
import { PgListener } from '../../src/infra/pg-listener';
import { testConfig, waitFor } from '../helpers/infra';
import {
  insertEscalation,
  insertIncident,
  insertMilestone,
  insertOutbox,
  ownDatabase,
  type OwnDatabase,
} from './fixtures/read-data';

// The machine is shared: waits are bounded by waitFor deadlines, not by jest's 5 s default.
jest.setTimeout(60_000);

interface SseEvent {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

interface SseClient {
  status: number;
  events: SseEvent[];
  /** Everything received, comments and id-only blocks included. */
  raw: () => string;
  close(): void;
}

let db: OwnDatabase;
let hub: StreamHub;
let listenPool: Pool;
let app: ReturnType<typeof buildServer>;
let base: string;
let token: string;
const metrics = new Registry();
const MIN = 60_000;

function connect(
  query = '',
  headers: Record<string, string> = {},
  opts: { read: boolean } = { read: true },
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${base}/v1/stream${query}`,
      { headers: { authorization: `Bearer ${token}`, ...headers } },
      (res) => {
        let raw = '';
        const events: SseEvent[] = [];
        const client: SseClient = {
          status: res.statusCode ?? 0,
          events,
          raw: () => raw,
          close: () => req.destroy(),
        };
        if (!opts.read) {
          res.pause(); // a client that stops reading: TCP backpressure reaches the server
          return resolve(client);
        }
        res.setEncoding('utf8');
        let pending = '';
        res.on('data', (chunk: string) => {
          raw += chunk;
          pending += chunk;
          let end: number;
          while ((end = pending.indexOf('\n\n')) !== -1) {
            const block = pending.slice(0, end);
            pending = pending.slice(end + 2);
            const fields = new Map<string, string>();
            for (const line of block.split('\n')) {
              const m = /^([a-z]+): ?(.*)$/.exec(line);
              if (m) fields.set(m[1]!, m[2]!);
            }
            if (fields.has('data')) {
              events.push({
                id: fields.get('id') ?? null,
                event: fields.get('event') ?? 'message',
                data: JSON.parse(fields.get('data')!) as Record<string, unknown>,
              });
            }
          }
        });
        res.on('error', () => undefined);
        resolve(client);
      },
    );
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
  });
}

beforeAll(async () => {
  db = await ownDatabase('read_stream');
  const key = createApiKey(['incidents:read'], 'dash');
  token = key.token;
  listenPool = createPool(db.url, { max: 1 });
  hub = new StreamHub(
    new StreamFeed(db.pool),
    systemClock,
    // A long poll: delivery within the tests' deadlines proves the NOTIFY path.
    {
      heartbeatMs: 300,
      pollMs: 60_000,
      retentionMs: 3600_000,
      clientBufferBytes: 16 * 1024,
      maxClients: 5,
    },
    pino({ level: 'silent' }),
    metrics,
    new PgListener(listenPool, pino({ level: 'silent' })),
  );
  app = buildServer({ logger: pino({ level: 'silent' }), metrics: new Registry(), readiness: [] });
  installAuth(app, ApiKeyStore.fromConfig([key.configEntry]));
  registerStreamRoutes(app, hub);
  await hub.start();
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await hub?.stop();
  await listenPool?.end();
  await db?.drop();
});

const eventsOf = (c: SseClient, incidentId: string) =>
  c.events.filter((e) => (e.data.incidentId ?? e.data.subject) === incidentId);

describe('GET /v1/stream', () => {
  it('pushes incident, milestone and SLA events as they are committed', async () => {
    const c = await connect();
    expect(c.status).toBe(200);
    const now = Date.now();
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await insertIncident(client, {
        id: 'S1',
        severity: 'I',
        site: 'DC1',
        reportedAt: new Date(now - 4.5 * MIN),
      });
      await insertMilestone(client, {
        incidentId: 'S1',
        milestone: 'response',
        state: 'pending',
        startAt: new Date(now - 4.5 * MIN),
        dueAt: new Date(now + 0.5 * MIN),
        warnAt: [new Date(now - 0.5 * MIN)],
      });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await insertOutbox(db.pool, {
      id: 'w-S1',
      incidentId: 'S1',
      type: 'sla.warning',
      data: { severity: 'I', site: 'DC1', milestone: 'response' },
      createdAt: new Date(),
    });
    await insertEscalation(db.pool, { incidentId: 'S1', toTier: 2, at: new Date() });

    const got = await waitFor(() => eventsOf(c, 'S1').length >= 4 && eventsOf(c, 'S1'), {
      what: 'four events about S1',
    });
    expect(got.map((e) => e.event)).toEqual(['incident', 'milestone', 'sla', 'incident']);
    expect(got[0]!.data).toMatchObject({ status: 'open', severity: 'I', tier: 1, site: 'DC1' });
    // The milestone as GET /v1/incidents/{id} shows it: warned now, deadline ahead.
    expect(got[1]!.data).toMatchObject({ milestone: 'response', state: 'warned' });
    expect(got[2]!.data).toMatchObject({ type: 'sla.warning', id: 'w-S1' });
    // An escalation streams the new effective tier.
    expect(got[3]!.data).toMatchObject({ tier: 2 });
    const ids = got.map((e) => e.id!);
    expect(new Set(ids).size).toBe(4);
    c.close();
  });

  it('filters by severity and site', async () => {
    const onlyI = await connect('?severity=I&site=DC9');
    const other = await connect('?severity=II,III');
    await insertIncident(db.pool, { id: 'F1', severity: 'I', site: 'DC9', reportedAt: new Date() });
    await insertIncident(db.pool, { id: 'F2', severity: 'I', site: 'DC8', reportedAt: new Date() });
    await insertIncident(db.pool, {
      id: 'F3',
      severity: 'II',
      site: 'DC9',
      reportedAt: new Date(),
    });
    await waitFor(() => eventsOf(onlyI, 'F1').length === 1 && eventsOf(other, 'F3').length === 1, {
      what: 'filtered events',
    });
    expect(onlyI.events.map((e) => e.data.incidentId)).toEqual(['F1']);
    expect(other.events.map((e) => e.data.incidentId)).toEqual(['F3']);
    const bad = await new Promise<number>((resolve) =>
      http.get(
        `${base}/v1/stream?severity=V`,
        { headers: { authorization: `Bearer ${token}` } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      ),
    );
    expect(bad).toBe(400);
    onlyI.close();
    other.close();
  });

  it('resumes after Last-Event-ID without gaps or repeats', async () => {
    const first = await connect('?site=RES');
    await insertIncident(db.pool, { id: 'R1', site: 'RES', reportedAt: new Date() });
    await waitFor(() => first.events.length === 1, { what: 'R1' });
    first.close();
    await insertIncident(db.pool, { id: 'R2', site: 'RES', reportedAt: new Date() });
    await insertIncident(db.pool, { id: 'R3', site: 'RES', reportedAt: new Date() });
    const second = await connect('?site=RES', { 'last-event-id': first.events[0]!.id! });
    await waitFor(() => second.events.length === 2, { what: 'R2 and R3' });
    expect(second.events.map((e) => e.data.incidentId)).toEqual(['R2', 'R3']);
    second.close();
  });

  it('says reset when the Last-Event-ID is gone, then follows live', async () => {
    const c = await connect('?site=RST', { 'last-event-id': '1-999999999' });
    await waitFor(() => c.events.some((e) => e.event === 'reset'), { what: 'reset' });
    await insertIncident(db.pool, { id: 'T1', site: 'RST', reportedAt: new Date() });
    await waitFor(() => eventsOf(c, 'T1').length === 1, { what: 'T1' });
    expect(c.events.map((e) => e.event)).toEqual(['reset', 'incident']);
    c.close();
  });

  it('sends heartbeats that move a filtered client past rows it does not want', async () => {
    const c = await connect('?site=QUIET');
    await insertIncident(db.pool, { id: 'H1', site: 'LOUD', reportedAt: new Date() });
    const head = await new StreamFeed(db.pool).head();
    await waitFor(() => c.raw().includes(`: heartbeat\nid: ${head.tx}-${head.id}\n\n`), {
      what: 'a heartbeat carrying the head id',
    });
    expect(c.events).toEqual([]);
    c.close();
  });

  it('disconnects a client that stops reading instead of buffering for it', async () => {
    const slow = await connect('?site=BULK', {}, { read: false });
    await waitFor(() => hubClients() >= 1, { what: 'the slow client to be attached' });
    // ~6 MB of events: more than the socket buffers, far more than the 16 KiB allowance.
    await db.pool.query(
      `INSERT INTO incidents (incident_id, status, severity, site, title, reported_at)
       SELECT 'BULK-' || g, 'open', 'IV', 'BULK', repeat('x', 2000), now()
       FROM generate_series(1, 3000) g`,
    );
    await waitFor(async () => (await droppedCount()) >= 1, {
      timeoutMs: 20_000,
      what: 'the slow client to be dropped',
    });
    slow.close();
  });

  it('refuses clients beyond the limit with 503', async () => {
    const open: SseClient[] = [];
    while (hubClients() < 5) open.push(await connect('?site=NONE'));
    const status = await new Promise<number>((resolve) =>
      http.get(`${base}/v1/stream`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }),
    );
    expect(status).toBe(503);
    open.forEach((c) => c.close());
    await waitFor(() => hubClients() === 0, { what: 'clients gone' });
  });
});

describe('the feed never skips a row committed late', () => {
  it('holds back rows of later transactions until an earlier one is done', async () => {
    const feed = new StreamFeed(db.pool);
    const start: FeedCursor = await feed.head();
    const early = await db.pool.connect();
    try {
      await early.query('BEGIN');
      await early.query(`SELECT pg_current_xact_id()`); // takes its transaction id now
      await insertIncident(db.pool, { id: 'LATE-2', site: 'ORDER', reportedAt: new Date() });
      // LATE-2 is committed, but an older transaction is still open: nothing is handed out yet.
      expect((await feed.read(start, { site: 'ORDER' }, 10)).rows).toEqual([]);
      await insertIncident(early, { id: 'LATE-1', site: 'ORDER', reportedAt: new Date() });
      await early.query('COMMIT');
    } finally {
      early.release();
    }
    const page = await feed.read(start, { site: 'ORDER' }, 10);
    expect(page.rows.map((r) => r.incidentId)).toEqual(['LATE-1', 'LATE-2']);
  });

  it('is not held back by a transaction running in another database of the cluster', async () => {
    const feed = new StreamFeed(db.pool);
    const start: FeedCursor = await feed.head();
    const elsewhere = createPool(testConfig().databaseUrl, { max: 1 });
    const other = await elsewhere.connect();
    try {
      await other.query('BEGIN');
      await other.query(`SELECT pg_current_xact_id()`); // older than the row below, other database
      await insertIncident(db.pool, {
        id: 'ELSEWHERE-1',
        site: 'ELSEWHERE',
        reportedAt: new Date(),
      });
      const page = await feed.read(start, { site: 'ELSEWHERE' }, 10);
      expect(page.rows.map((r) => r.incidentId)).toEqual(['ELSEWHERE-1']);
      await other.query('ROLLBACK');
    } finally {
      other.release();
      await elsewhere.end();
    }
  });

  it('trims by age', async () => {
    const feed = new StreamFeed(db.pool);
    await db.pool.query(
      `UPDATE stream_events SET at = now() - interval '2 days' WHERE site = 'ORDER'`,
    );
    expect(await feed.trim(new Date(Date.now() - 86400_000), 1)).toBe(2);
  });
});

function hubClients(): number {
  return (hub as unknown as { clients: Set<unknown> }).clients.size;
}

async function droppedCount(): Promise<number> {
  const metric = await metrics.getSingleMetric('sla_stream_clients_dropped_total')!.get();
  return metric.values.reduce((n, v) => n + v.value, 0);
}
