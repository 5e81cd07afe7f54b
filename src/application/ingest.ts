import { Counter, Histogram, type Registry } from 'prom-client';
import { eventDigest, toEventRecord, type CloudEvent, type FieldIssue } from '../contracts/events';
import { UnavailableError } from '../errors';
import type { Clock } from '../infra/clock';
import type { EventPublisher } from '../infra/kafka';

/**
 * The ingest use case: validated events → `incident.events`, acknowledged by Kafka before the caller
 * hears "accepted". Checks here are the ones that need more than the schema: the clock (SPEC §4 age
 * bounds) and the batch as a whole (one id, two payloads).
 *
 * Idempotency is not decided here: the same (source, id) posted again is simply produced again and
 * the projector applies it once (it keeps the digest of each applied event and reports a different
 * payload under a used id). That keeps this path free of any database round trip.
 */

/** SPEC §4: `time` more than 5 minutes ahead of the service's clock is refused. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

export interface IngestSettings {
  topic: string;
  /** Older events are refused (SPEC §4, configurable; default 30 days). */
  maxEventAgeMs: number;
  /** Upper bound on waiting for Kafka's acknowledgement (503 past it). */
  publishTimeoutMs: number;
}

export type IngestOutcome =
  | { kind: 'accepted'; ids: string[] }
  /** Well-formed but semantically impossible (422). */
  | { kind: 'unprocessable'; issues: FieldIssue[] };

export class IngestService {
  /** Pre-bound per outcome: a label lookup per request is measurable on the hot path. */
  private readonly outcomes: Record<
    'accepted' | 'invalid' | 'unprocessable' | 'unavailable',
    Counter.Internal
  >;
  private readonly publishSeconds: Histogram;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly clock: Clock,
    private readonly settings: IngestSettings,
    metrics: Registry,
  ) {
    const outcomes = new Counter({
      name: 'sla_ingest_events_total',
      help: 'Events posted to POST /v1/events by outcome (accepted, invalid, unprocessable, unavailable)',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    this.outcomes = {
      accepted: outcomes.labels('accepted'),
      invalid: outcomes.labels('invalid'),
      unprocessable: outcomes.labels('unprocessable'),
      unavailable: outcomes.labels('unavailable'),
    };
    this.publishSeconds = new Histogram({
      name: 'sla_ingest_publish_seconds',
      help: 'Time from handing a request’s events to Kafka until all were acknowledged',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [metrics],
    });
  }

  /** For the HTTP layer: events that failed the schema never reach `ingest`. */
  countInvalid(events: number): void {
    this.outcomes.invalid.inc(events);
  }

  /**
   * Produces the events (keyed by subject, in the given order) and resolves once Kafka acknowledged
   * them all. `batch` says whether issue paths carry an index. Rejects with UnavailableError (503).
   */
  async ingest(events: CloudEvent[], batch: boolean): Promise<IngestOutcome> {
    const acceptedAt = this.clock.now();
    const issues = [
      ...this.checkTimes(events, batch, acceptedAt),
      ...conflictingDuplicates(events),
    ];
    if (issues.length > 0) {
      this.outcomes.unprocessable.inc(events.length);
      return { kind: 'unprocessable', issues };
    }
    const stop = this.publishSeconds.startTimer();
    try {
      const records = events.map((e) => toEventRecord(e, acceptedAt));
      await this.publisher.publish(this.settings.topic, records, {
        timeoutMs: this.settings.publishTimeoutMs,
      });
    } catch (err) {
      this.outcomes.unavailable.inc(events.length);
      if (err instanceof UnavailableError) throw err;
      throw new UnavailableError('kafka', 'Kafka write failed', { cause: err });
    } finally {
      stop();
    }
    this.outcomes.accepted.inc(events.length);
    return { kind: 'accepted', ids: events.map((e) => e.id) };
  }

  private checkTimes(events: CloudEvent[], batch: boolean, now: number): FieldIssue[] {
    const issues: FieldIssue[] = [];
    events.forEach((event, index) => {
      const at = Date.parse(event.time);
      const path = batch ? `[${index}].time` : 'time';
      if (at > now + MAX_FUTURE_SKEW_MS) {
        issues.push({ path, message: 'is more than 5 minutes in the future' });
      } else if (at < now - this.settings.maxEventAgeMs) {
        issues.push({
          path,
          message: `is older than the accepted bound of ${formatDuration(this.settings.maxEventAgeMs)}`,
        });
      }
    });
    return issues;
  }
}

/**
 * Two items of one batch with the same (source, id) but different payloads cannot both be the event
 * that id names; refusing the batch beats letting Kafka order decide which one counts. Identical
 * repeats are harmless and pass.
 */
function conflictingDuplicates(events: CloudEvent[]): FieldIssue[] {
  const firstIndex = new Map<string, number>();
  const issues: FieldIssue[] = [];
  events.forEach((event, index) => {
    const key = `${event.source}\u0000${event.id}`;
    const first = firstIndex.get(key);
    if (first === undefined) firstIndex.set(key, index);
    // Digests only for repeats: hashing every event would cost more than the rest of validation.
    else if (eventDigest(events[first]!) !== eventDigest(event)) {
      issues.push({
        path: `[${index}].id`,
        message: `repeats the source and id of item ${first} with a different payload`,
      });
    }
  });
  return issues;
}

function formatDuration(ms: number): string {
  const day = 24 * 3600 * 1000;
  if (ms % day === 0) return `${ms / day} days`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} hours`;
  return `${Math.round(ms / 1000)} seconds`;
}
