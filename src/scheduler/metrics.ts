import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Pool } from '../infra/db';
import { LATENESS_BUCKETS } from '../infra/metrics';
import { createOutboxMetrics, type OutboxMetrics } from '../outbox/metrics';

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
 * The scheduler's Prometheus metrics, registered in the app's registry: the timer runner's here,
 * the outbox relay's and the outbox backlog gauges in src/outbox/metrics.ts.
 */
export function createSchedulerMetrics(registry: Registry, pool: Pool): SchedulerMetrics {
  const registers = [registry];
  return {
    ...createOutboxMetrics(registry, pool),
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
  };
}
