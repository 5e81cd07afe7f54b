/**
 * The outbox relay (role `outboxRelay`): publishes outbox rows to Kafka and marks them sent.
 *
 * Invariants:
 * - It claims unsent rows (those in `outbox_unsent`, FOR UPDATE SKIP LOCKED, oldest first), never
 *   "everything after the last id seen": a transaction that commits late (an older id or
 *   created_at) is still found. Two relays never hold the same row at once.
 * - A row is marked sent only after Kafka acknowledged it (acks=all) and in the same transaction
 *   that held its lock: its `outbox_unsent` row is deleted and `outbox_sent` records the time.
 *   The outbox row itself is never updated (migrations/0011: no dead copy of every SLA event). A crash between the acknowledgement and the COMMIT publishes the row
 *   again later, with the same id: at-least-once delivery, consumers dedupe by CloudEvent id.
 * - A failed publish leaves the rows unsent, counts the attempt and keeps the error text; the
 *   relay backs off exponentially and retries. Nothing is dropped or reordered by a failure.
 * - Order: rows are published in (created_at, seq) order, so a breach precedes the escalation it
 *   caused and, with one relay, an incident's events keep their order (same key → same
 *   partition). With several relays, batches may interleave; consumers must not rely on order
 *   across batches.
 * NOTIFY on `sla_outbox` (migrations/0004) wakes the relay at once; a poll is the safety net.
 */
import { CLOUDEVENTS_CONTENT_TYPE } from '../contracts/sla-events';
import { withTransaction, type Pool } from '../infra/db';
import type { EventPublisher } from '../infra/kafka';
import type { Logger } from '../infra/logger';
import type { PgListener } from '../infra/pg-listener';
import type { OutboxMetrics } from './metrics';

export const OUTBOX_CHANNEL = 'sla_outbox';

export interface OutboxRelaySettings {
  batchSize: number;
  pollIntervalMs: number;
  /** Upper bound of one publish call (acks=all); past it the attempt counts as failed. */
  publishTimeoutMs: number;
  /** First retry delay after a failure; doubles up to retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
}

export interface OutboxRelayDeps {
  pool: Pool;
  log: Logger;
  publisher: EventPublisher;
  metrics: OutboxMetrics;
  listener: PgListener;
  /** Called after rows were acknowledged by Kafka (benchmarks and tests observe it). */
  onPublished?: (rows: readonly PublishedRow[]) => void;
}

export interface PublishedRow {
  id: string;
  topic: string;
  type: string;
}

interface UnsentRow {
  id: string;
  topic: string;
  message_key: string;
  type: string;
  /** jsonb as text: published as is, never re-serialised. */
  payload: string;
}

export interface RelayRoundResult {
  claimed: number;
  /** Rows acknowledged by Kafka and marked sent. */
  published: PublishedRow[];
  failed: number;
}

export class OutboxRelay {
  readonly name = 'outboxRelay';
  private readonly log: Logger;
  private stopped = true;
  private draining: Promise<void> | null = null;
  private drainAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Current back-off; 0 when the last round succeeded. */
  private backoffMs = 0;

  constructor(
    private readonly deps: OutboxRelayDeps,
    private readonly settings: OutboxRelaySettings,
  ) {
    this.log = deps.log.child({ component: this.name });
    deps.listener.on(OUTBOX_CHANNEL, () => this.kick());
    deps.listener.onReconnect(() => this.kick());
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.kick();
    this.pollTimer = setInterval(() => this.kick(), this.settings.pollIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.retryTimer);
    await this.draining;
  }

  kick(): void {
    // While backing off, wake-ups wait for the retry timer: Kafka is known to be failing.
    if (this.stopped || this.retryTimer) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (this.drainAgain) {
        this.drainAgain = false;
        this.kick();
      }
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopped) {
      let round: RelayRoundResult;
      try {
        round = await this.relayRound();
      } catch (err) {
        // Postgres trouble (the publish errors are handled inside the round).
        this.log.error({ err }, 'outbox round failed');
        this.backOff();
        return;
      }
      if (round.published.length > 0) this.deps.onPublished?.(round.published);
      if (round.failed > 0) {
        this.backOff();
        return;
      }
      if (this.backoffMs > 0) {
        this.log.info('publishing to Kafka again');
        this.backoffMs = 0;
      }
      if (round.claimed < this.settings.batchSize) return;
    }
  }

  private backOff(): void {
    this.backoffMs = Math.min(
      this.settings.retryMaxMs,
      Math.max(this.settings.retryMinMs, this.backoffMs * 2),
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.backoffMs);
  }

  /** One batch: claim, publish per topic (in parallel), mark sent or record the failure. */
  async relayRound(): Promise<RelayRoundResult> {
    // Marking rows sent need not wait for the WAL flush (milliseconds per commit on a slow disk,
    // on the path of every next batch): if Postgres crashes before the flush, the rows are unsent
    // again and are re-published with the same ids, which consumers dedupe anyway.
    return withTransaction(
      this.deps.pool,
      async (client) => {
        const { rows } = await client.query<UnsentRow>({
          name: 'sla_outbox_claim',
          text: `SELECT o.id, o.topic, o.message_key, o.type, o.payload::text AS payload
               FROM outbox_unsent u JOIN outbox o ON o.id = u.id
               ORDER BY u.created_at, u.seq
               LIMIT $1
               FOR UPDATE OF u SKIP LOCKED`,
          values: [this.settings.batchSize],
        });
        if (rows.length === 0) return { claimed: 0, published: [], failed: 0 };

        const byTopic = new Map<string, UnsentRow[]>();
        for (const row of rows) {
          const list = byTopic.get(row.topic) ?? [];
          list.push(row);
          byTopic.set(row.topic, list);
        }
        const outcomes = await Promise.all(
          [...byTopic].map(async ([topic, list]) => {
            try {
              await this.deps.publisher.publish(
                topic,
                list.map((r) => ({
                  key: r.message_key,
                  value: r.payload,
                  headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE },
                })),
                { timeoutMs: this.settings.publishTimeoutMs },
              );
              return { topic, list, error: null };
            } catch (err) {
              return { topic, list, error: err as Error };
            }
          }),
        );

        const sent = outcomes.filter((o) => o.error === null).flatMap((o) => o.list);
        if (sent.length > 0) {
          // clock_timestamp(): the acknowledgement time, not the transaction start.
          const marked = await client.query<{ delay: string }>({
            name: 'sla_outbox_sent',
            text: `WITH done AS (
                   DELETE FROM outbox_unsent WHERE id = ANY($1::text[])
                   RETURNING id, created_at
                 ), sent AS (
                   INSERT INTO outbox_sent (id, sent_at)
                   SELECT id, clock_timestamp() FROM done
                   ON CONFLICT (id) DO NOTHING
                 )
                 SELECT extract(epoch FROM clock_timestamp() - created_at) AS delay FROM done`,
            values: [sent.map((r) => r.id)],
          });
          for (const r of marked.rows) this.deps.metrics.publishDelay.observe(Number(r.delay));
        }
        let failed = 0;
        for (const o of outcomes) {
          if (o.error === null) {
            this.deps.metrics.published.inc({ topic: o.topic }, o.list.length);
            continue;
          }
          failed += o.list.length;
          this.deps.metrics.publishErrors.inc({ topic: o.topic });
          await client.query(
            `UPDATE outbox_unsent SET attempts = attempts + 1, last_error = $2
             WHERE id = ANY($1::text[])`,
            [o.list.map((r) => r.id), o.error.message.slice(0, 500)],
          );
          if (this.backoffMs === 0) {
            this.log.warn(
              { err: o.error, topic: o.topic, rows: o.list.length },
              'publish failed; will retry',
            );
          }
        }
        const published = sent.map((r) => ({ id: r.id, topic: r.topic, type: r.type }));
        return { claimed: rows.length, published, failed };
      },
      { asyncCommit: true },
    );
  }
}
