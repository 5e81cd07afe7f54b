import type { Pool, PoolClient } from './db';
import type { Logger } from './logger';

export type NotificationHandler = (payload: string) => void;

/**
 * One dedicated connection that LISTENs on its users' channels and dispatches notifications: the
 * scheduler's (timer runner and outbox relay share one) and the live stream's (its own, from a
 * one-connection pool). Notifications are latency hints only: while the connection is down the
 * pollers still find all work. After a reconnect every `onReconnect` handler runs, because
 * notifications sent meanwhile are lost (the runner then reloads its wheel, the relay looks for
 * unsent rows, the stream wakes every client). Handlers are registered before `start`.
 */
export class PgListener {
  private client: PoolClient | null = null;
  private readonly handlers = new Map<string, NotificationHandler[]>();
  private readonly reconnectHandlers: (() => void)[] = [];
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    /** A silent network loss is noticed by a ping this often. */
    private readonly pingIntervalMs = 30_000,
  ) {}

  on(channel: string, handler: NotificationHandler): void {
    const list = this.handlers.get(channel) ?? [];
    list.push(handler);
    this.handlers.set(channel, list);
  }

  onReconnect(handler: () => void): void {
    this.reconnectHandlers.push(handler);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect(false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    const client = this.client;
    this.client = null;
    if (client) {
      await client.query('UNLISTEN *').catch(() => undefined);
      client.release();
    }
  }

  private async connect(isReconnect: boolean): Promise<void> {
    let client: PoolClient | undefined;
    try {
      client = await this.pool.connect();
      client.on('notification', (msg) => this.dispatch(msg.channel, msg.payload ?? ''));
      client.on('error', (err) => this.lost(client!, err));
      client.on('end', () => this.lost(client!, new Error('connection ended')));
      for (const channel of this.handlers.keys()) {
        // Channel names are ours (constants), never user input.
        await client.query(`LISTEN ${channel}`);
      }
    } catch (err) {
      client?.release(err as Error);
      this.log.warn({ component: 'pg-listener', err }, 'LISTEN connection failed; polling only');
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) {
      client.release();
      return;
    }
    this.client = client;
    this.backoffMs = 0;
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      void client.query('SELECT 1').catch((err: Error) => this.lost(client, err));
    }, this.pingIntervalMs);
    this.pingTimer.unref();
    if (isReconnect) {
      this.log.info({ component: 'pg-listener' }, 'LISTEN connection restored');
      for (const handler of this.reconnectHandlers) handler();
    }
  }

  private lost(client: PoolClient, err: Error): void {
    if (this.client !== client) return; // already replaced
    this.client = null;
    clearInterval(this.pingTimer);
    client.release(err);
    if (this.stopped) return;
    this.log.warn({ component: 'pg-listener', err }, 'LISTEN connection lost; polling only');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.backoffMs = Math.min(10_000, Math.max(200, this.backoffMs * 2));
    this.retryTimer = setTimeout(() => void this.connect(true), this.backoffMs);
    this.retryTimer.unref();
  }

  private dispatch(channel: string, payload: string): void {
    for (const handler of this.handlers.get(channel) ?? []) {
      try {
        handler(payload);
      } catch (err) {
        this.log.error({ component: 'pg-listener', err, channel }, 'notification handler failed');
      }
    }
  }
}
