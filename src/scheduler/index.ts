/**
 * The scheduler role: the timer runner and the outbox relay, sharing one LISTEN connection.
 * `createSchedulerServices` is what src/composition.ts wires in for `ROLES=…scheduler…`.
 */
import type { AppContext, Service } from '../application/roles';
import { createSchedulerMetrics } from './metrics';
import { OutboxRelay, type OutboxRelayDeps } from '../outbox/relay';
import type { PgListener } from '../infra/pg-listener';
import { TimerRunner, type TimerRunnerDeps } from './timer-runner';

export { OutboxRelay, OUTBOX_CHANNEL, type PublishedRow } from '../outbox/relay';
export { TimerRunner, TIMERS_CHANNEL } from './timer-runner';
export { fireDueTimers, type FireRoundResult } from './fire';
export { insertOutboxRows } from '../outbox/store';

export interface SchedulerHooks {
  onRound?: TimerRunnerDeps['onRound'];
  onPublished?: OutboxRelayDeps['onPublished'];
}

export interface SchedulerServices {
  listener: PgListener;
  runner: TimerRunner;
  relay: OutboxRelay;
  /** In start order: the listener first (it LISTENs for both), then the runner, then the relay. */
  services: Service[];
}

/**
 * `context.listener`: the scheduler's LISTEN connection (src/infra/pg-listener.ts), built by the
 * composition root; the returned services start and stop it.
 */
export function createSchedulerServices(
  context: Pick<AppContext, 'config' | 'log' | 'clock' | 'pool' | 'publisher' | 'metrics'> & {
    listener: PgListener;
  },
  hooks: SchedulerHooks = {},
): SchedulerServices {
  const { config, log, clock, pool, publisher, listener } = context;
  const metrics = createSchedulerMetrics(context.metrics, pool);
  const topics = {
    warnings: config.KAFKA_TOPIC_WARNINGS,
    escalations: config.KAFKA_TOPIC_ESCALATIONS,
  };
  const runner = new TimerRunner(
    { pool, log, clock, metrics, listener, onRound: hooks.onRound },
    {
      batchSize: config.SCHEDULER_BATCH_SIZE,
      pollIntervalMs: config.SCHEDULER_POLL_INTERVAL_MS,
      horizonMs: config.SCHEDULER_HORIZON_MS,
      wheelMaxEntries: config.SCHEDULER_WHEEL_MAX_ENTRIES,
      skewIntervalMs: config.SCHEDULER_SKEW_INTERVAL_MS,
      concurrency: config.SCHEDULER_CONCURRENCY,
      asyncCommit: config.SCHEDULER_ASYNC_COMMIT,
      topics,
    },
  );
  const relay = new OutboxRelay(
    { pool, log, publisher, metrics, listener, onPublished: hooks.onPublished },
    {
      batchSize: config.OUTBOX_BATCH_SIZE,
      maxInFlight: config.OUTBOX_MAX_IN_FLIGHT,
      pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
      publishTimeoutMs: config.KAFKA_PRODUCE_TIMEOUT_MS,
      retryMinMs: config.OUTBOX_RETRY_MIN_MS,
      retryMaxMs: config.OUTBOX_RETRY_MAX_MS,
    },
  );
  const listenerService: Service = {
    name: 'schedulerListener',
    start: () => listener.start(),
    stop: () => listener.stop(),
  };
  return { listener, runner, relay, services: [listenerService, runner, relay] };
}
