/**
 * GET /v1/stream: Server-Sent Events for dashboards. Events:
 * - `incident`: the incident's new snapshot (status, severity, effective tier, assignee, times);
 * - `milestone`: a milestone as GET /v1/incidents/{id} shows it, state computed when sent;
 * - `sla`: an SLA event (SPEC §4 CloudEvent) as it is written to the outbox;
 * - `reset`: the Last-Event-ID given is no longer kept; reload state over REST, then carry on.
 * Filters: `severity` (list) and `site`. Resume: the standard `Last-Event-ID` header.
 *
 * Each client pulls its own rows from the feed (src/application/stream-feed.ts) with its own
 * cursor and filter, woken by NOTIFY (or the fallback poll): no shared in-memory state to get out
 * of step, and resume is the same code path as live delivery. Memory per client is bounded: one
 * page is read only after the socket drained the previous one, and a client whose unsent buffer
 * passes STREAM_CLIENT_BUFFER_BYTES, or that does not drain in time, is disconnected (it may
 * reconnect and resume).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, type Registry } from 'prom-client';
import { milestoneView } from '../application/milestone-state';
import type { MilestoneRecord } from '../tables/milestones';
import {
  formatCursor,
  parseCursor,
  type FeedCursor,
  type FeedFilter,
  type FeedRow,
  type StreamFeed,
} from '../application/stream-feed';
import type { Service } from '../application/roles';
import { parseInput, streamQuery } from '../contracts/read';
import type { Clock } from '../infra/clock';
import type { Logger } from '../infra/logger';
import type { PgListener } from '../infra/pg-listener';
import { z } from 'zod';
import { problemSchema } from '../contracts/http-common';
import { requireScope } from './auth';
import type { RouteDocs } from './openapi';
import { problem } from './server';

export interface StreamOptions {
  heartbeatMs: number;
  /** Fallback wake-up when no NOTIFY arrives (listener down). */
  pollMs: number;
  retentionMs: number;
  clientBufferBytes: number;
  maxClients: number;
}

/** Rows read per query; also the most a client is sent before its socket must drain. */
const PAGE = 200;
/** A client that has not drained its socket for this long is gone or stalled. */
const DRAIN_TIMEOUT_MS = 30_000;
const TRIM_EVERY_MS = 60_000;
export const STREAM_CHANNEL = 'sla_stream';

class SseClient {
  pulling = false;
  again = false;
  closed = false;
  /** The id the client saw last (event or heartbeat); its Last-Event-ID on reconnect. */
  lastSentId: string | null = null;

  constructor(
    readonly res: ServerResponse,
    readonly filter: FeedFilter,
    public cursor: FeedCursor,
    private readonly maxBuffer: number,
    private readonly onDrop: (why: string) => void,
  ) {}

  /** False when the client is gone or was dropped for not reading. */
  write(chunk: string): boolean {
    if (this.closed) return false;
    this.res.write(chunk);
    if (this.res.writableLength > this.maxBuffer) {
      this.drop('buffer limit');
      return false;
    }
    return true;
  }

  drained(timeoutMs: number): Promise<boolean> {
    if (!this.res.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.res.off('drain', onDrain);
        this.res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => {
        this.drop('drain timeout');
        done(false);
      }, timeoutMs);
      this.res.once('drain', onDrain);
      this.res.once('close', onClose);
    });
  }

  drop(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.onDrop(why);
    this.res.destroy();
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.end();
  }
}

export class StreamHub implements Service {
  readonly name = 'stream';
  private readonly clients = new Set<SseClient>();
  private timers: NodeJS.Timeout[] = [];
  private readonly connected: Gauge;
  private readonly dropped: Counter;

  constructor(
    private readonly feed: StreamFeed,
    private readonly clock: Clock,
    private readonly options: StreamOptions,
    private readonly log: Logger,
    metrics: Registry,
    /**
     * LISTEN on STREAM_CHANNEL (a wake-up hint: the feed table is the truth, and the hub also
     * polls); the hub starts and stops it. Its connection comes from a dedicated pool, so the
     * query pool keeps every slot. Null: poll only.
     */
    private readonly listener: PgListener | null,
  ) {
    // Notifications sent while the connection was down are lost: a reconnect wakes every client.
    listener?.on(STREAM_CHANNEL, () => this.wakeAll());
    listener?.onReconnect(() => this.wakeAll());
    this.connected = new Gauge({
      name: 'sla_stream_clients',
      help: 'Connected GET /v1/stream clients',
      registers: [metrics],
    });
    this.dropped = new Counter({
      name: 'sla_stream_clients_dropped_total',
      help: 'Stream clients disconnected for not reading fast enough',
      labelNames: ['reason'],
      registers: [metrics],
    });
  }

  get full(): boolean {
    return this.clients.size >= this.options.maxClients;
  }

  async start(): Promise<void> {
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.options.pollMs, () => this.wakeAll());
    every(this.options.heartbeatMs, () => this.heartbeat());
    every(TRIM_EVERY_MS, () => void this.trim());
    await this.listener?.start();
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.closeClients();
    await this.listener?.stop();
  }

  /** Ends every stream (at shutdown: an open response would keep the HTTP server from closing). */
  closeClients(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.connected.set(0);
  }

  /**
   * Where a new client starts: after its Last-Event-ID when that row is still kept; else at the
   * head, with `reset: true` when it asked for a position we no longer have.
   */
  async startingPoint(
    lastEventId: string | undefined,
  ): Promise<{ cursor: FeedCursor; reset: boolean }> {
    if (lastEventId === undefined) return { cursor: await this.feed.head(), reset: false };
    const resume = parseCursor(lastEventId);
    if (resume && (await this.feed.has(resume))) return { cursor: resume, reset: false };
    return { cursor: await this.feed.head(), reset: true };
  }

  attach(res: ServerResponse, filter: FeedFilter, start: { cursor: FeedCursor; reset: boolean }) {
    const client: SseClient = new SseClient(
      res,
      filter,
      start.cursor,
      this.options.clientBufferBytes,
      (why) => {
        this.dropped.inc({ reason: why });
        this.log.info({ component: 'stream', reason: why }, 'stream client dropped');
      },
    );
    this.clients.add(client);
    this.connected.set(this.clients.size);
    res.on('close', () => {
      client.closed = true;
      this.clients.delete(client);
      this.connected.set(this.clients.size);
    });
    // `retry`: how long a browser waits before reconnecting.
    client.write(`retry: 3000\n: connected\n\n`);
    if (start.reset) {
      client.write(
        sse(null, 'reset', {
          reason: 'Last-Event-ID is older than the stream keeps (or unknown); reload, then follow',
        }),
      );
    }
    void this.pull(client);
  }

  private wakeAll(): void {
    for (const c of this.clients) void this.pull(c);
  }

  /** Sends the client everything after its cursor; at most one pull per client runs at a time. */
  private async pull(c: SseClient): Promise<void> {
    if (c.pulling) {
      c.again = true;
      return;
    }
    c.pulling = true;
    try {
      do {
        c.again = false;
        const page = await this.feed.read(c.cursor, c.filter, PAGE);
        const now = this.clock.now();
        for (const row of page.rows) {
          const id = formatCursor(row.cursor);
          if (!c.write(sse(id, row.kind, render(row, now)))) return;
          c.lastSentId = id;
        }
        c.cursor = page.next;
        if (page.rows.length === PAGE) c.again = true;
        if (!(await c.drained(DRAIN_TIMEOUT_MS))) return;
      } while (c.again && !c.closed);
    } catch (err) {
      // The next wake-up retries from the same cursor.
      this.log.warn({ err, component: 'stream' }, 'stream read failed');
    } finally {
      c.pulling = false;
    }
  }

  /**
   * A comment keeps proxies from closing an idle stream. When the cursor moved past rows this
   * client's filter skipped, an id-only message moves its Last-Event-ID along (SSE: an `id` line
   * without data dispatches nothing), so a reconnect does not rescan them.
   */
  private heartbeat(): void {
    for (const c of this.clients) {
      const id = formatCursor(c.cursor);
      const advance = !c.pulling && c.lastSentId !== id && c.cursor.id !== '0';
      if (c.write(advance ? `: heartbeat\nid: ${id}\n\n` : `: heartbeat\n\n`) && advance) {
        c.lastSentId = id;
      }
    }
  }

  private async trim(): Promise<void> {
    try {
      const removed = await this.feed.trim(new Date(this.clock.now() - this.options.retentionMs));
      if (removed > 0) this.log.debug({ component: 'stream', removed }, 'stream feed trimmed');
    } catch (err) {
      this.log.warn({ err, component: 'stream' }, 'stream feed trim failed');
    }
  }
}

function sse(id: string | null, event: string, data: unknown): string {
  return `${id === null ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const isoMs = (v: unknown) => (typeof v === 'number' ? new Date(v).toISOString() : null);

/** The event's data: instants as ISO strings; milestones in the read API's shape. */
export function render(row: FeedRow, now: number): unknown {
  const p = row.payload;
  switch (row.kind) {
    case 'sla':
      return p;
    case 'incident':
      return {
        ...p,
        reportedAt: isoMs(p.reportedAt),
        resolvedAt: isoMs(p.resolvedAt),
        closedAt: isoMs(p.closedAt),
        cancelledAt: isoMs(p.cancelledAt),
      };
    case 'milestone': {
      const date = (v: unknown) => (typeof v === 'number' ? new Date(v) : null);
      const m: MilestoneRecord = {
        incident_id: row.incidentId,
        milestone: String(p.milestone),
        cycle: Number(p.cycle),
        state: p.state as MilestoneRecord['state'],
        start_at: date(p.startAt),
        due_at: date(p.dueAt),
        warn_at: Array.isArray(p.warnAt) ? p.warnAt.map((w) => new Date(Number(w))) : [],
        met_at: date(p.metAt),
        breached_at: date(p.breachedAt),
        paused_ms: Number(p.pausedMs ?? 0),
        escalates_to_tier: typeof p.escalatesToTier === 'number' ? p.escalatesToTier : null,
        // Snapshots written before migration 0008 carry neither: a running clock, no pauses.
        stopped_at: date(p.stoppedAt),
        overdue_paused_ms: Number(p.overduePausedMs ?? 0),
      };
      return { incidentId: row.incidentId, ...milestoneView(m, now) };
    }
  }
}

export function registerStreamRoutes(app: FastifyInstance, hub: StreamHub): void {
  app.addHook('preClose', async () => hub.closeClients());

  const docs: RouteDocs = {
    summary: 'Live updates (Server-Sent Events)',
    description:
      'Events `incident` (new snapshot), `milestone` (as in GET /v1/incidents/{id}, state at send ' +
      'time), `sla` (an SLA event, SPEC §4, when it is written) and `reset` (Last-Event-ID no ' +
      'longer kept: reload, then follow). Resume with the `Last-Event-ID` header; comments every ' +
      'STREAM_HEARTBEAT_MS. A client that does not keep up is disconnected and may resume.',
    tags: ['incidents'],
    querystring: streamQuery,
    responses: {
      200: {
        description: 'An endless text/event-stream',
        content: { 'text/event-stream': z.string() },
      },
      503: {
        description: 'STREAM_MAX_CLIENTS reached, or a dependency is unavailable',
        content: { 'application/json': problemSchema },
      },
    },
  };
  const options = { preHandler: requireScope('incidents:read'), config: { docs } };
  app.get('/v1/stream', options, async (req, reply) => {
    const q = parseInput(streamQuery, req.query, 'query parameter');
    if (hub.full) {
      return reply
        .code(503)
        .header('retry-after', '10')
        .send(problem(503, 'too_many_streams', 'too many stream clients; retry later'));
    }
    const header = req.headers['last-event-id'];
    // Before hijacking: a database error here is still an ordinary 503 from the error handler.
    const start = await hub.startingPoint(Array.isArray(header) ? header[0] : header);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // nginx would otherwise buffer the stream
      'x-accel-buffering': 'no',
    });
    // The server's idle socket timeout is for requests; a stream is kept alive by heartbeats.
    req.raw.socket.setTimeout(0);
    req.raw.socket.setNoDelay(true);
    const filter: FeedFilter = {};
    if (q.severity) filter.severity = q.severity;
    if (q.site !== undefined) filter.site = q.site;
    hub.attach(res, filter, start);
  });
}
