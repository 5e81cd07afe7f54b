import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Pool } from '../infra/db';
import { PENDING_INCIDENTS } from '../tables/incidents';

export interface ProjectorMetrics {
  eventsApplied: Counter;
  /** Same (source, id) and same payload again: a redelivery or a client retry. */
  duplicates: Counter;
  /** Same (source, id), different payload: reported, not applied. */
  digestConflicts: Counter;
  dlqRecords: Counter<'reason'>;
  /** Records per batch (poison and duplicates included). */
  batchSize: Histogram;
  batchDuration: Histogram;
  /** High watermark minus the next offset to apply, per partition, after each batch. */
  consumerLag: Gauge<'partition'>;
  /** Batches that did not commit: `fenced`, `moved`, `error`, `conflict` (retried). */
  batchFailures: Counter<'reason'>;
  /** Incidents whose evaluation threw: events recorded, read model not updated (a bug). */
  evaluationErrors: Counter;
}

/**
 * Registered on the app's registry. Idempotent per registry, so a rebuild running in the same
 * process as a live projector shares the counters instead of failing on duplicate names.
 */
export function createProjectorMetrics(registry: Registry, pool?: Pool): ProjectorMetrics {
  const registers = [registry];
  if (pool && !registry.getSingleMetric('sla_projector_pending_incidents')) {
    // Events waiting for their incident's report (status pending): a few is normal (a report
    // posted late); a growing number means a producer never sends reports. Counted at scrape.
    new Gauge({
      name: 'sla_projector_pending_incidents',
      help: 'Incidents with events but no incident.reported yet',
      registers,
      async collect() {
        const { rows } = await pool.query<{ n: string }>(
          PENDING_INCIDENTS.text,
          PENDING_INCIDENTS.values,
        );
        this.set(Number(rows[0]?.n ?? 0));
      },
    });
  }
  const existing = <T>(name: string) => registry.getSingleMetric(name) as T | undefined;
  return {
    eventsApplied:
      existing<Counter>('sla_projector_events_applied_total') ??
      new Counter({
        name: 'sla_projector_events_applied_total',
        help: 'Lifecycle events applied to the read model (each exactly once)',
        registers,
      }),
    duplicates:
      existing<Counter>('sla_projector_duplicate_events_total') ??
      new Counter({
        name: 'sla_projector_duplicate_events_total',
        help: 'Events skipped because their (source, id) was applied before with the same payload',
        registers,
      }),
    digestConflicts:
      existing<Counter>('sla_projector_digest_conflicts_total') ??
      new Counter({
        name: 'sla_projector_digest_conflicts_total',
        help: 'Events not applied: their (source, id) was used before for a different payload',
        registers,
      }),
    dlqRecords:
      existing<Counter<'reason'>>('sla_projector_dlq_records_total') ??
      new Counter({
        name: 'sla_projector_dlq_records_total',
        help: 'Poison records sent to the dead-letter topic, by reason',
        labelNames: ['reason'],
        registers,
      }),
    batchSize:
      existing<Histogram>('sla_projector_batch_size') ??
      new Histogram({
        name: 'sla_projector_batch_size',
        help: 'Records per projected batch',
        buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
        registers,
      }),
    batchDuration:
      existing<Histogram>('sla_projector_batch_duration_seconds') ??
      new Histogram({
        name: 'sla_projector_batch_duration_seconds',
        help: 'Time to project one batch, decode to commit',
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        registers,
      }),
    consumerLag:
      existing<Gauge<'partition'>>('sla_projector_consumer_lag') ??
      new Gauge({
        name: 'sla_projector_consumer_lag',
        help: 'Records of incident.events not yet projected, per partition (at the last batch)',
        labelNames: ['partition'],
        registers,
      }),
    batchFailures:
      existing<Counter<'reason'>>('sla_projector_batch_failures_total') ??
      new Counter({
        name: 'sla_projector_batch_failures_total',
        help: 'Batches not committed, by reason (fenced, moved, conflict, error)',
        labelNames: ['reason'],
        registers,
      }),
    evaluationErrors:
      existing<Counter>('sla_projector_evaluation_errors_total') ??
      new Counter({
        name: 'sla_projector_evaluation_errors_total',
        help: 'Incidents whose SLA evaluation failed (events kept; read model not updated)',
        registers,
      }),
  };
}
