import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Pool } from '../infra/db';
import type { OutboxMetrics } from '../outbox/relay';

/** Lateness buckets (seconds): the target is p99 ≤ 100 ms; minutes show a backlog. */
const LATENESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300];

/** The timer runner's metrics and the outbox relay's (both run in the scheduler role). */
export interface SchedulerMetrics extends OutboxMetrics {
  /** Claimed timers by kind and outcome: `emitted`, or the skip reason (SkipReason, src/domain/timers.ts). */
  timersFired: Counter<'kind' | 'outcome'>;
  /** Database `now()` at firing minus due time: how late a timer fired (never negative). */
  fireLateness: Histogram<'kind'>;
  automaticEscalations: Counter;
  /** Database clock minus process clock (seconds), measured at start and periodically. */
  clockSkew: Gauge;
  wheelSize: Gauge;
}

/**
 * The scheduler's Prometheus metrics, registered in the app's registry. The outbox backlog gauges
 * are computed at scrape time from Postgres (the table is the truth, not a counter in memory).
 */
export function createSchedulerMetrics(registry: Registry, pool: Pool): SchedulerMetrics {
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
    timersFired: new Counter({
      name: 'sla_timers_fired_total',
      help: 'Timers claimed and decided, by kind and outcome (emitted or the skip reason)',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    fireLateness: new Histogram({
      name: 'sla_timer_lateness_seconds',
      help: 'Database time at firing minus the timer due time',
      labelNames: ['kind'],
      buckets: LATENESS_BUCKETS,
      registers,
    }),
    automaticEscalations: new Counter({
      name: 'sla_automatic_escalations_total',
      help: 'Automatic escalations (incident.escalated, automatic: true) written to the outbox',
      registers,
    }),
    clockSkew: new Gauge({
      name: 'sla_scheduler_clock_skew_seconds',
      help: 'Database clock minus process clock',
      registers,
    }),
    wheelSize: new Gauge({
      name: 'sla_scheduler_wheel_entries',
      help: 'Due times held in memory for the near future',
      registers,
    }),
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
