import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Histogram buckets (seconds) for how late something happened (a timer firing, an outbox row
 * reaching Kafka): the target is p99 ≤ 100 ms; minutes show a backlog.
 */
export const LATENESS_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300,
];

/** One registry per process (or per test app), so tests never share counters. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
