import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Pool } from '../infra/db';
import { LATENESS_BUCKETS } from '../infra/metrics';

/** The outbox relay's Prometheus metrics. */
export interface OutboxMetrics {
  published: Counter<'topic'>;
  publishErrors: Counter<'topic'>;
  /** Kafka acknowledgement minus outbox insert time. */
  publishDelay: Histogram;
}

/**
 * The relay's metrics and the outbox backlog gauges, registered in the app's registry (by the role
 * that runs the relay: src/scheduler/metrics.ts). The backlog gauges are computed at scrape time
 * from Postgres (the table is the truth, not a counter in memory).
 */
export function createOutboxMetrics(registry: Registry, pool: Pool): OutboxMetrics {
  const registers = [registry];
  new Gauge({
    name: 'sla_outbox_backlog',
    help: 'Outbox rows not yet published to Kafka',
    registers,
    async collect() {
      // A scrape during a Postgres outage keeps the last value rather than failing /metrics.
      const rows = await scalar(pool, 'SELECT count(*) AS n FROM outbox_unsent');
      if (rows !== undefined) this.set(rows);
    },
  });
  new Gauge({
    name: 'sla_outbox_oldest_unsent_age_seconds',
    help: 'Age of the oldest unpublished outbox row (0 when none)',
    registers,
    async collect() {
      const age = await scalar(
        pool,
        `SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) AS n
         FROM outbox_unsent`,
      );
      if (age !== undefined) this.set(age);
    },
  });
  return {
    published: new Counter({
      name: 'sla_outbox_published_total',
      help: 'Outbox rows published to Kafka and marked sent',
      labelNames: ['topic'],
      registers,
    }),
    publishErrors: new Counter({
      name: 'sla_outbox_publish_errors_total',
      help: 'Failed publish attempts of the outbox relay (rows stay unsent and are retried)',
      labelNames: ['topic'],
      registers,
    }),
    publishDelay: new Histogram({
      name: 'sla_outbox_publish_delay_seconds',
      help: 'Kafka acknowledgement time minus the outbox row creation time',
      buckets: LATENESS_BUCKETS,
      registers,
    }),
  };
}

async function scalar(pool: Pool, sql: string): Promise<number | undefined> {
  try {
    const { rows } = await pool.query<{ n: string | number }>(sql);
    return Number(rows[0]?.n ?? 0);
  } catch {
    return undefined;
  }
}
