/**
 * The outbox relay (role `outboxRelay`): publishes outbox rows to Kafka and marks them sent.
 *
 * A round is claim → produce → mark, in one transaction whose row locks are the lease on its rows.
 * Rounds are pipelined (issue 12): as soon as one round has claimed, the next claim may run while
 * the first waits for Kafka's acknowledgement (acks=all), up to `maxInFlight` rounds at once. Before,
 * a firing that committed during a round waited for that round's produce, mark and commit, then
 * for its own: at 100 breaching incidents/s that wait was most of the relay's p99 (README
 * "End to end").
 *
 * Invariants:
 * - It claims unsent rows (those in `outbox_unsent`, FOR UPDATE SKIP LOCKED, oldest first), never
 *   "everything after the last id seen": a transaction that commits late (an older id or
 *   created_at) is still found. Two rounds (or relays) never hold the same row at once.
 * - A row is marked sent only after Kafka acknowledged it (acks=all) and in the same transaction
 *   that held its lock: its `outbox_unsent` row is deleted and `outbox_sent` records the time.
 *   The outbox row itself is never updated (migrations/0011: no dead copy of every SLA event). A
 *   crash between the acknowledgement and the COMMIT publishes the row again later, with the same
 *   id: at-least-once delivery, consumers dedupe by CloudEvent id.
 * - A failed publish leaves the rows unsent, counts the attempt and keeps the error text; the
 *   relay backs off exponentially and retries. Nothing is dropped by a failure. The back-off is per
 *   topic: claims skip the rows of a topic that is failing (a topic missing on the broker, one
 *   without enough in-sync replicas) until its retry, so the other topics' rows, the pages, still
 *   go out at once. Postgres trouble (a round that fails as a whole) backs off the whole relay.
 * - Order per key: rows are claimed in (created_at, seq) order, and a claim skips every message
 *   key a round in flight holds, so one key is never in two produce requests at once: an
 *   incident's events reach its partition in order (a breach before the escalation it caused),
 *   also when a request fails and is retried later. This is why the relay's producer need not be
 *   idempotent (src/infra/kafka.ts PublisherOptions), and why its requests may overlap. With
 *   several relays (instances), batches may interleave; consumers must not rely on order across
 *   them.
 * NOTIFY on `sla_outbox` (migrations/0004) wakes the relay at once; a poll is the safety net.
 */
import { CLOUDEVENTS_CONTENT_TYPE } from '../contracts/sla-events';
import { withTransaction, type Pool, type PoolClient } from '../infra/db';
import type { EventPublisher } from '../infra/kafka';
import type { Logger } from '../infra/logger';
import type { PgListener } from '../infra/pg-listener';
import type { OutboxMetrics } from './metrics';
import { claimUnsent, markSent, recordFailedAttempt, type UnsentRow } from './store';

export const OUTBOX_CHANNEL = 'sla_outbox';

/** While topics back off, claims take at most this share of the time (see claimNotBefore). */
const CLAIM_WALK_SHARE = 0.1;

export interface OutboxRelaySettings {
  batchSize: number;
  /** Rounds claimed and not yet committed at once (each holds a pool connection meanwhile). */
  maxInFlight: number;
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

interface PublishOutcome {
  topic: string;
  list: UnsentRow[];
  error: Error | null;
}

/** A topic backing off after a failed publish (OutboxRelay.failingTopics). */
interface TopicBackoff {
  delayMs: number;
  /** Set while its rows are skipped; cleared when the retry is due. */
  retryTimer: NodeJS.Timeout | undefined;
}

/** A round claimed (or claiming) and not yet committed. */
interface RoundInFlight {
  /** Its claim is done (the next round may claim). */
  claimed: boolean;
  /** A later claim ran while this round was in flight (and skipped its keys). */
  overtaken: boolean;
  done: Promise<void>;
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
  /** Rounds claimed (or claiming) and not yet committed. */
  private readonly rounds = new Set<RoundInFlight>();
  /** Message keys of the rows the rounds in flight hold: claims skip them (order per key). */
  private readonly keysInFlight = new Set<string>();
  private claiming = false;
  /** A wake-up came while a claim ran or the pipeline was full: claim again when it can. */
  private wanted = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Current back-off of the whole relay (Postgres trouble); 0 when the last round succeeded. */
  private backoffMs = 0;
  /** Topics whose publish failed: their rows are skipped until `retryTimer` runs. */
  private readonly failingTopics = new Map<string, TopicBackoff>();
  /**
   * While topics are skipped, claims walk past their unsent rows (a Kafka outage: thousands; 21 ms
   * per claim for 6,000 here), and wake-ups come with every firing: the next claim waits until
   * CLAIM_WALK_SHARE allows (epoch ms; 0: no wait). A skipped topic with few rows costs nothing.
   */
  private claimNotBefore = 0;
  private throttleTimer: NodeJS.Timeout | undefined;

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
    clearTimeout(this.throttleTimer);
    for (const t of this.failingTopics.values()) clearTimeout(t.retryTimer);
    await this.settled();
  }

  /** Resolves when no round is in progress or queued (start-up ordering, tests). */
  async settled(): Promise<void> {
    while (this.rounds.size > 0) await Promise.all([...this.rounds].map((r) => r.done));
  }

  /**
   * Starts a round now if none is claiming and fewer than `maxInFlight` are in flight; else
   * remembers to claim once that changes.
   */
  kick(): void {
    // While backing off, wake-ups wait for the retry timer: Postgres is known to be failing.
    if (this.stopped || this.retryTimer) return;
    if (this.claiming || this.rounds.size >= this.settings.maxInFlight) {
      this.wanted = true;
      return;
    }
    const wait = this.claimNotBefore - Date.now();
    if (wait > 0) {
      this.wanted = true;
      this.throttleTimer ??= setTimeout(() => {
        this.throttleTimer = undefined;
        this.kick();
      }, wait);
      return;
    }
    this.wanted = false;
    this.claiming = true;
    // The rounds in flight have claimed; this claim skips their keys, so rows of those keys
    // committed meanwhile wait for a claim after they finish.
    for (const r of this.rounds) r.overtaken = true;
    const round: RoundInFlight = { claimed: false, overtaken: false, done: Promise.resolve() };
    this.rounds.add(round);
    round.done = this.pipelinedRound(round).finally(() => {
      this.rounds.delete(round);
      if (this.wanted) this.kick();
    });
  }

  private async pipelinedRound(state: RoundInFlight): Promise<void> {
    let round: RelayRoundResult;
    try {
      round = await this.relayRound((claimed) => {
        state.claimed = true;
        this.claiming = false;
        // A full batch: there may be more; claim it while this one is being produced.
        if (claimed === this.settings.batchSize || this.wanted) this.kick();
      });
    } catch (err) {
      // Postgres trouble (the publish errors are handled inside the round).
      if (!state.claimed) this.claiming = false;
      this.log.error({ err }, 'outbox round failed');
      this.backOff();
      return;
    }
    if (round.published.length > 0) this.deps.onPublished?.(round.published);
    if (this.backoffMs > 0 && !this.retryTimer) {
      this.log.info('outbox rounds succeed again');
      this.backoffMs = 0;
    }
    if (state.overtaken && round.claimed > 0) this.wanted = true;
  }

  /** Postgres trouble: every round waits (exponential back-off of the whole relay). */
  private backOff(): void {
    if (this.retryTimer) return; // another round in flight failed too: one back-off
    this.backoffMs = Math.min(
      this.settings.retryMaxMs,
      Math.max(this.settings.retryMinMs, this.backoffMs * 2),
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.backoffMs);
  }

  /**
   * One round: claim, publish per topic (in parallel), mark sent or record the failure, commit.
   * `onClaimed` is called once the rows are claimed and their keys recorded as in flight (the
   * pipeline starts the next claim from there). Called directly (tests), it is one round beside
   * the pipeline: SKIP LOCKED keeps their rows apart, but not their keys.
   */
  async relayRound(onClaimed?: (claimed: number) => void): Promise<RelayRoundResult> {
    const held: string[] = [];
    try {
      // Marking rows sent need not wait for the WAL flush (milliseconds per commit on a slow
      // disk, on the path of every next batch): if Postgres crashes before the flush, the rows
      // are unsent again and are re-published with the same ids, which consumers dedupe anyway.
      return await withTransaction(
        this.deps.pool,
        async (client) => {
          const skipTopics = [...this.failingTopics]
            .filter(([, t]) => t.retryTimer)
            .map(([topic]) => topic);
          const claimStarted = Date.now();
          const rows = await claimUnsent(
            client,
            this.settings.batchSize,
            [...this.keysInFlight],
            skipTopics,
          );
          const claimEnded = Date.now();
          this.claimNotBefore =
            skipTopics.length > 0
              ? claimEnded + (claimEnded - claimStarted) * (1 / CLAIM_WALK_SHARE - 1)
              : 0;
          for (const row of rows) {
            if (this.keysInFlight.has(row.message_key)) continue;
            this.keysInFlight.add(row.message_key);
            held.push(row.message_key);
          }
          onClaimed?.(rows.length);
          if (rows.length === 0) return { claimed: 0, published: [], failed: 0 };
          const outcomes = await this.publishByTopic(rows);
          return { claimed: rows.length, ...(await this.record(client, outcomes)) };
        },
        { asyncCommit: true },
      );
    } finally {
      for (const key of held) this.keysInFlight.delete(key);
    }
  }

  /** One produce call per topic, in parallel; each outcome says which rows it carried. */
  private async publishByTopic(rows: UnsentRow[]): Promise<PublishOutcome[]> {
    const byTopic = new Map<string, UnsentRow[]>();
    for (const row of rows) {
      const list = byTopic.get(row.topic) ?? [];
      list.push(row);
      byTopic.set(row.topic, list);
    }
    return Promise.all(
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
  }

  /**
   * A publish to `topic` failed: its rows are skipped for `retryMinMs`, doubling with each failure
   * in a row up to `retryMaxMs`; then a round claims them again. Logged on the first failure.
   */
  private topicFailed(topic: string, err: Error, rows: number): void {
    const known = this.failingTopics.get(topic);
    if (known?.retryTimer) return; // another round in flight failed on it too: one back-off
    const delayMs = known
      ? Math.min(this.settings.retryMaxMs, known.delayMs * 2)
      : this.settings.retryMinMs;
    if (!known) this.log.warn({ err, topic, rows }, 'publish failed; will retry');
    const backoff: TopicBackoff = { delayMs, retryTimer: undefined };
    backoff.retryTimer = setTimeout(() => {
      backoff.retryTimer = undefined;
      this.kick();
    }, delayMs);
    this.failingTopics.set(topic, backoff);
  }

  private topicSucceeded(topic: string): void {
    if (!this.failingTopics.delete(topic)) return;
    this.log.info({ topic }, 'publishing to the topic again');
  }

  /** Marks the acknowledged rows sent and counts the failed attempts, in the round's transaction. */
  private async record(
    client: PoolClient,
    outcomes: PublishOutcome[],
  ): Promise<Omit<RelayRoundResult, 'claimed'>> {
    const sent = outcomes.filter((o) => o.error === null).flatMap((o) => o.list);
    const delays = await markSent(
      client,
      sent.map((r) => r.id),
    );
    for (const d of delays) this.deps.metrics.publishDelay.observe(d);
    let failed = 0;
    for (const o of outcomes) {
      if (o.error === null) {
        this.deps.metrics.published.inc({ topic: o.topic }, o.list.length);
        this.topicSucceeded(o.topic);
        continue;
      }
      failed += o.list.length;
      this.deps.metrics.publishErrors.inc({ topic: o.topic });
      await recordFailedAttempt(
        client,
        o.list.map((r) => r.id),
        o.error.message,
      );
      this.topicFailed(o.topic, o.error, o.list.length);
    }
    const published = sent.map((r) => ({ id: r.id, topic: r.topic, type: r.type }));
    return { published, failed };
  }
}
