import { hostname } from 'node:os';
import type { Registry } from 'prom-client';
import type { PolicyStore } from '../application/policy-store';
import type { Service } from '../application/roles';
import type { Clock } from '../infra/clock';
import type { Pool } from '../infra/db';
import { quoteIdent, withTransaction } from '../infra/db';
import type { EventPublisher, Kafka } from '../infra/kafka';
import {
  subscribeWithStoredOffsets,
  type BatchOutcome,
  type ClaimedBatch,
  type StoredOffsetHandler,
  type SubscriptionState,
} from '../infra/kafka-consumer';
import type { Logger } from '../infra/logger';
import { ConcurrentWriteError, projectBatch, type ProjectionSettings } from './apply-batch';
import { CpuSlice } from './cpu-slice';
import {
  decodeRecord,
  type DecodedEvent,
  type DecodedInspection,
  type PoisonRecord,
} from './decode';
import { toDlqRecord } from './dlq';
import { createProjectorMetrics, type ProjectorMetrics } from './metrics';
import { claimPartitions } from './offsets';

export interface ProjectorOptions {
  /** Kafka consumer group, and the key of the stored offsets. */
  groupId: string;
  topic: string;
  dlqTopic: string;
  topics: { warnings: string; escalations: string };
  concurrency: number;
  fetchMaxBytes: number;
  maxEventBytes: number;
  /** Names this instance in projector_offsets.owner. */
  owner?: string;
  /** Group membership timing: how fast a dead member's partitions move (tests shorten it). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Remove group members left behind by dead processes of this host before joining. */
  evictDeadMembers?: boolean;
}

export interface ProjectorDeps {
  pool: Pool;
  kafka: Kafka;
  publisher: EventPublisher;
  log: Logger;
  clock: Clock;
  metrics: Registry;
  policies: PolicyStore;
}

export interface Projector extends Service {
  /** Resolves once this instance claimed its first assignment. */
  readonly assigned: Promise<void>;
  /** Consumer group membership (joining until the first assignment is claimed). */
  readonly state: SubscriptionState;
}

/** The live projector: incident.events → read model, DLQ for poison, outbox for side effects. */
export function createProjector(deps: ProjectorDeps, options: ProjectorOptions): Projector {
  const log = deps.log.child({ component: 'projector' });
  const owner = options.owner ?? `${hostname()}:${process.pid}`;
  const handler = createBatchHandler(
    { ...deps, log, metrics: createProjectorMetrics(deps.metrics, deps.pool) },
    {
      settings: {
        offsets: { groupId: options.groupId, topic: options.topic },
        sideEffects: true,
        topics: options.topics,
      },
      owner,
      maxEventBytes: options.maxEventBytes,
      dlq: { publisher: deps.publisher, topic: options.dlqTopic },
    },
  );
  const subscription = subscribeWithStoredOffsets(
    deps.kafka,
    {
      groupId: options.groupId,
      topic: options.topic,
      concurrency: options.concurrency,
      maxBytesPerPartition: options.fetchMaxBytes,
      sessionTimeoutMs: options.sessionTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      evictDeadMembers: options.evictDeadMembers,
    },
    handler,
    log,
  );
  return {
    name: 'projector',
    assigned: subscription.assigned,
    get state() {
      return subscription.state;
    },
    async start() {
      // The default policy must be stored before the first incident records its version.
      await deps.policies.ensureDefault(deps.clock.now());
      await subscription.start();
    },
    stop: () => subscription.stop(),
  };
}

export interface BatchHandlerOptions {
  settings: ProjectionSettings;
  owner: string;
  maxEventBytes: number;
  /** Where poison goes; null (rebuild) skips it: the live projector dead-lettered it already. */
  dlq: { publisher: EventPublisher; topic: string } | null;
  /** Called after each committed batch (rebuild progress). */
  onCommitted?(partition: number, nextOffset: bigint, highWatermark: bigint): void;
}

/**
 * Decode → dead-letter poison → project in one transaction → tell the consumer what happened.
 * Shared by the live projector and the rebuild (which writes into a shadow schema).
 */
export function createBatchHandler(
  deps: Omit<ProjectorDeps, 'metrics' | 'kafka' | 'publisher'> & { metrics: ProjectorMetrics },
  options: BatchHandlerOptions,
): StoredOffsetHandler {
  const { log, metrics } = deps;
  const { settings } = options;
  /** Poison already dead-lettered, per partition: a retried batch does not send it twice. */
  const dlqDone = new Map<number, bigint>();
  const failures = new Map<number, number>();

  async function claim(topic: string, partitions: number[]) {
    if (!settings.schema)
      return claimPartitions(deps.pool, settings.offsets, partitions, options.owner);
    const schema = settings.schema;
    return withTransaction(deps.pool, async (client) => {
      await client.query(`SET LOCAL search_path = ${quoteIdent(schema)}, public`);
      return claimPartitions(client, settings.offsets, partitions, options.owner);
    });
  }

  async function handle(batch: ClaimedBatch): Promise<BatchOutcome> {
    const started = process.hrtime.bigint();
    const { partition, records } = batch;
    const nextOffset = BigInt(records[records.length - 1]!.offset) + 1n;
    try {
      const events: DecodedEvent[] = [];
      const inspections: DecodedInspection[] = [];
      const poison: PoisonRecord[] = [];
      const slice = new CpuSlice();
      for (const record of records) {
        await slice.pause();
        const decoded = decodeRecord(record, options.maxEventBytes);
        if (decoded.kind === 'event') events.push(decoded);
        else if (decoded.kind === 'inspection') inspections.push(decoded);
        else poison.push(decoded);
      }
      await deadLetter(partition, poison);

      const result = await projectBatch(
        { pool: deps.pool, policies: deps.policies, log, now: () => deps.clock.now() },
        settings,
        {
          partition,
          epoch: batch.claim.epoch,
          fromOffset: batch.fromOffset,
          nextOffset,
          events,
          inspections,
        },
      );
      if (result.kind === 'fenced') {
        metrics.batchFailures.inc({ reason: 'fenced' });
        log.warn(
          { partition, epoch: String(batch.claim.epoch) },
          'fenced: another member owns the partition',
        );
        return { kind: 'lost' };
      }
      if (result.kind === 'moved') {
        metrics.batchFailures.inc({ reason: 'moved' });
        log.warn(
          { partition, from: String(batch.fromOffset), stored: String(result.nextOffset) },
          'stored offset moved (e.g. a rebuild was swapped in); continuing from it',
        );
        return { kind: 'moved', nextOffset: result.nextOffset };
      }

      failures.delete(partition);
      for (const c of result.conflicts) {
        log.warn(
          {
            partition,
            offset: String(c.offset),
            source: c.source,
            eventId: c.eventId,
            incidentId: c.incidentId,
          },
          'event id reused with a different payload: not applied',
        );
      }
      log.debug(
        {
          partition,
          records: records.length,
          applied: result.applied,
          incidents: result.incidents,
          ms: result.timings,
        },
        'batch projected',
      );
      metrics.eventsApplied.inc(result.applied);
      metrics.duplicates.inc(result.duplicates);
      metrics.digestConflicts.inc(result.conflicts.length);
      metrics.evaluationErrors.inc(result.failed.length);
      metrics.batchSize.observe(records.length);
      metrics.batchDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
      const lag = batch.highWatermark - nextOffset;
      metrics.consumerLag.set({ partition: String(partition) }, Number(lag > 0n ? lag : 0n));
      options.onCommitted?.(partition, nextOffset, batch.highWatermark);
      return { kind: 'done', nextOffset };
    } catch (err) {
      const n = (failures.get(partition) ?? 0) + 1;
      failures.set(partition, n);
      const conflict = err instanceof ConcurrentWriteError;
      metrics.batchFailures.inc({ reason: conflict ? 'conflict' : 'error' });
      log[conflict ? 'warn' : 'error'](
        { err, partition, from: String(batch.fromOffset), attempt: n },
        'batch not projected; retrying',
      );
      // A concurrent writer is gone by the next attempt; an outage gets a growing pause.
      return { kind: 'retry', delayMs: conflict ? 0 : Math.min(10_000, 100 * 2 ** Math.min(n, 7)) };
    }
  }

  async function deadLetter(partition: number, poison: PoisonRecord[]): Promise<void> {
    const done = dlqDone.get(partition) ?? -1n;
    const fresh = poison.filter((p) => p.offset > done);
    if (fresh.length === 0) return;
    if (options.dlq) {
      const origin = {
        topic: settings.offsets.topic,
        partition,
        groupId: settings.offsets.groupId,
      };
      // Published before the transaction commits the offsets: a crash in between re-sends (the
      // headers name the original offset, so an operator sees the repeat), it never loses one.
      await options.dlq.publisher.publish(
        options.dlq.topic,
        fresh.map((p) => toDlqRecord(p, origin)),
      );
      for (const p of fresh) {
        metrics.dlqRecords.inc({ reason: p.reason });
        log.warn(
          { partition, offset: String(p.offset), reason: p.reason, detail: p.detail },
          'poison record dead-lettered',
        );
      }
    }
    dlqDone.set(partition, fresh[fresh.length - 1]!.offset);
  }

  return { claim, handle };
}
