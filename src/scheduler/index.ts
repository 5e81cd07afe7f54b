/**
 * The scheduler role: the timer runner and the outbox relay, sharing one LISTEN connection.
 * `createSchedulerServices` is what src/composition.ts wires in for `ROLES=…scheduler…`.
 */
import type { AppContext, Service } from '../application/roles';
import { createSchedulerMetrics } from './metrics';
import { OutboxRelay, type OutboxRelayDeps } from '../outbox/relay';
import type { PgListener } from '../infra/pg-listener';
import { ReportIssuer } from './report-issuer';
import { TimerRunner, type TimerRunnerDeps } from './timer-runner';

export { OutboxRelay, OUTBOX_CHANNEL, type PublishedRow } from '../outbox/relay';
export { TimerRunner, TIMERS_CHANNEL } from './timer-runner';
export { ReportIssuer } from './report-issuer';
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
  /** Null when REPORT_ISSUE_ENABLED=false. */
  issuer: ReportIssuer | null;
  /**
   * In start order: the listener first (it LISTENs for both), then the runner, then the relay,
   * then the report issuer.
   */
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
  const issuer = config.REPORT_ISSUE_ENABLED
    ? new ReportIssuer(
        { pool, clock, log, metrics: context.metrics },
        {
          zone: config.REPORT_TIME_ZONE,
          day: config.REPORT_ISSUE_DAY,
          hour: config.REPORT_ISSUE_HOUR,
          maxEventAgeMs: config.INGEST_MAX_EVENT_AGE_MS,
          topic: config.KAFKA_TOPIC_REPORTS,
          baseUrl: config.REPORT_BASE_URL,
        },
      )
    : null;
  return {
    listener,
    runner,
    relay,
    issuer,
    services: [listenerService, runner, relay, ...(issuer ? [issuer] : [])],
  };
}
