import { UnavailableError } from '../errors';
import { withTimeout, type EventPublisher, type OutgoingRecord } from '../infra/kafka';

/**
 * Group commit for the ingest API: records of concurrent requests share one Kafka produce request.
 *
 * kafkajs has no linger: every `send()` is its own acks=all round trip, so one request per HTTP
 * call caps single-event POSTs at (requests in flight) / (broker round trip). Here at most
 * `maxInFlight` publishes are outstanding; whatever arrives meanwhile waits and goes out together in
 * the next one. Nothing waits for a timer, so an idle service adds no latency, and under load the
 * batches grow by themselves. (bench/ingest.ts: single-event POSTs, see the report in the README.)
 *
 * Every caller keeps its own deadline: a caller still queued at its deadline is rejected and its
 * records are not sent; a publish in flight uses the earliest deadline of the callers it carries.
 * The underlying publisher is not owned: `close()` only drains this queue.
 */
export class CoalescingPublisher implements EventPublisher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private readonly drained = new Set<() => void>();
  private expiry: NodeJS.Timeout | undefined;
  private expiryAt = Infinity;

  constructor(
    private readonly inner: EventPublisher,
    private readonly options: {
      defaultTimeoutMs: number;
      /** Records per produce request (a single caller's records are never split). */
      maxRecords?: number;
      maxInFlight?: number;
    },
  ) {}

  publish(
    topic: string,
    records: OutgoingRecord[],
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    const timeoutMs = options.timeoutMs ?? this.options.defaultTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        topic,
        records,
        timeoutMs,
        deadline: Date.now() + timeoutMs,
        resolve,
        reject,
      };
      this.queue.push(pending);
      this.pump();
      if (this.queue.length > 0) this.armExpiry(pending.deadline);
    });
  }

  /**
   * One timer for the whole queue, set for the earliest deadline of a queued caller (a timer per
   * request cost more than the rest of the queueing under load).
   */
  private armExpiry(deadline: number): void {
    if (this.expiry && this.expiryAt <= deadline) return;
    clearTimeout(this.expiry);
    this.expiryAt = deadline;
    this.expiry = setTimeout(() => this.expire(), Math.max(0, deadline - Date.now()));
  }

  /** Rejects every queued caller past its deadline; their records are not sent. */
  private expire(): void {
    this.expiry = undefined;
    this.expiryAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (let i = 0; i < this.queue.length;) {
      const p = this.queue[i]!;
      if (p.deadline > now) {
        next = Math.min(next, p.deadline);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      p.reject(new UnavailableError('kafka', `Kafka did not acknowledge within ${p.timeoutMs} ms`));
    }
    if (next < Infinity) this.armExpiry(next);
    this.notifyIfDrained();
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < (this.options.maxInFlight ?? 1)) {
      void this.flush(this.take());
    }
  }

  /** The next batch: queued callers of the first caller's topic, in order, up to maxRecords. */
  private take(): Pending[] {
    const topic = this.queue[0]!.topic;
    const limit = this.options.maxRecords ?? 2000;
    const batch: Pending[] = [];
    let count = 0;
    for (let i = 0; i < this.queue.length;) {
      const p = this.queue[i]!;
      if (p.topic !== topic || (batch.length > 0 && count + p.records.length > limit)) {
        i++;
        continue;
      }
      batch.push(p);
      count += p.records.length;
      this.queue.splice(i, 1);
    }
    return batch;
  }

  private async flush(batch: Pending[]): Promise<void> {
    this.inFlight++;
    const remaining = Math.max(1, Math.min(...batch.map((p) => p.deadline)) - Date.now());
    try {
      // The port promises a bounded publish; the bound is enforced here too, so that one hung call
      // can never stall the queue behind it.
      await withTimeout(
        this.inner.publish(
          batch[0]!.topic,
          batch.flatMap((p) => p.records),
          { timeoutMs: remaining },
        ),
        remaining,
        () => new UnavailableError('kafka', `Kafka did not acknowledge within ${remaining} ms`),
      );
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.inFlight--;
      this.pump();
      this.notifyIfDrained();
    }
  }

  private notifyIfDrained(): void {
    if (this.queue.length === 0) {
      clearTimeout(this.expiry);
      this.expiry = undefined;
      this.expiryAt = Infinity;
    }
    if (this.queue.length > 0 || this.inFlight > 0) return;
    for (const done of this.drained) done();
    this.drained.clear();
  }

  /** Resolves when nothing is queued or in flight. Does not close the underlying publisher. */
  async close(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.drained.add(resolve));
  }
}

interface Pending {
  topic: string;
  records: OutgoingRecord[];
  timeoutMs: number;
  deadline: number;
  resolve(): void;
  reject(err: unknown): void;
}
