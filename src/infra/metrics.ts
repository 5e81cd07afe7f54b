import { Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process (or per test app), so tests never share counters. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
