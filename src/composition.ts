import type { FastifyInstance } from 'fastify';
import { CoalescingPublisher } from './application/coalescing-publisher';
import { createPolicyStore, loadConfiguredPolicy } from './application/policy-store';
import type { AppContext, Service } from './application/roles';
import type { Config } from './config';
import { ensureTopics, serviceTopics } from './infra/kafka-topics';
import { registerApiFoundation, registerIngestApi } from './http/api';
import { registerReadApi } from './http/read';
import { buildServer } from './http/server';
import { systemClock, type Clock } from './infra/clock';
import { autovacuumAdvisory } from './infra/autovacuum';
import { createPool } from './infra/db';
import { createKafka, KafkaHealth, KafkaPublisher } from './infra/kafka';
import type { Logger } from './infra/logger';
import { PgListener } from './infra/pg-listener';
import { createMetricsRegistry } from './infra/metrics';
import { createProjectorService } from './projector';
import { createSchedulerServices } from './scheduler';

/**
 * The one composition root: adapters are built here and wired into the roles the config asks for
 * (`api`, `projector`, `scheduler`; all three by default). Nothing else constructs infrastructure.
 * The contracts between the root and the roles (AppContext, Service) are in
 * src/application/roles.ts, so that no role imports this file.
 */
export type { AppContext, Service };

export interface RunningApp {
  context: AppContext;
  http: FastifyInstance;
  /** `host:port` the HTTP server listens on. */
  address: string;
  stop(): Promise<void>;
}

export function createContext(config: Config, log: Logger, clock: Clock = systemClock): AppContext {
  const kafka = createKafka(
    { brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID },
    log,
  );
  return {
    config,
    log,
    clock,
    pool: createPool(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE }),
    kafka,
    publisher: new KafkaPublisher(kafka, config.KAFKA_PRODUCE_TIMEOUT_MS),
    metrics: createMetricsRegistry(),
  };
}

/**
 * roles: api (ingest and read routes are registered here, and only here: scripts/gen-contracts.ts
 * calls this to generate openapi.yaml, so a route added elsewhere would go undocumented).
 * Registering does no I/O (a pg pool connects on first use); the returned services are started by
 * startApp, and release what is built here when stopped.
 */
export async function registerApiRole(
  http: FastifyInstance,
  context: AppContext,
): Promise<Service[]> {
  const { config } = context;
  // First authentication, rate limiting and the OpenAPI collector: they see the routes after them.
  await registerApiFoundation(http, context);
  // Concurrent POSTs share produce calls (src/application/coalescing-publisher.ts).
  const ingestPublisher = new CoalescingPublisher(context.publisher, {
    defaultTimeoutMs: config.INGEST_PUBLISH_TIMEOUT_MS,
  });
  http.addHook('onClose', () => ingestPublisher.close());
  await registerIngestApi(http, { ...context, publisher: ingestPublisher });
  // Read API and live stream (issue 8): after authentication is installed. LISTEN holds its
  // connection for good: its own pool, so the query pool keeps every slot.
  const streamListenPool = createPool(config.DATABASE_URL, {
    max: 1,
    application_name: 'sla-timer-stream',
  });
  const releaseListenPool: Service = {
    name: 'streamListenPool',
    start: async () => undefined,
    // Stopped after the stream hub (services stop in reverse order), which released its client.
    stop: () => streamListenPool.end(),
  };
  return [releaseListenPool, ...registerReadApi(http, context, streamListenPool)];
}

export async function startApp(context: AppContext): Promise<RunningApp> {
  const { config, log, pool } = context;
  const kafkaHealth = new KafkaHealth(context.kafka);
  const http = buildServer({
    logger: log,
    metrics: context.metrics,
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: config.HTTP_CONNECTION_TIMEOUT_MS,
    readiness: [
      { name: 'postgres', check: () => pool.query('SELECT 1').then(() => undefined) },
      { name: 'kafka', check: () => kafkaHealth.check() },
    ],
    advisories: [{ name: 'autovacuum', check: autovacuumAdvisory(pool) }],
  });

  if (config.KAFKA_CREATE_TOPICS) {
    // Missing topics would stop the projector and fail every POST; a broker that is down now is
    // not fatal (/readyz says so, the roles retry), so neither is failing to create them.
    await ensureTopics(context.kafka, serviceTopics(config)).then(
      (created) => created.length > 0 && log.info({ topics: created }, 'created topics'),
      (err: unknown) => log.warn({ err }, 'could not create the Kafka topics; continuing'),
    );
  }

  const services: Service[] = [];
  const roles = new Set(config.ROLES);
  if (roles.has('api')) {
    // roles: api — the routes are registered in registerApiRole above
    services.push(...(await registerApiRole(http, context)));
  }
  if (roles.has('projector')) {
    // roles: projector (incident.events → read models, exactly once; src/projector)
    const policies = createPolicyStore(
      pool,
      await loadConfiguredPolicy(config.POLICY_FILE),
      context.log,
    );
    services.push(await createProjectorService(context, policies));
  }
  if (roles.has('scheduler')) {
    // roles: scheduler (timer runner and outbox relay)
    // One LISTEN connection for the timer runner and the outbox relay (src/infra/pg-listener.ts).
    const listener = new PgListener(pool, log);
    services.push(...createSchedulerServices({ ...context, listener }).services);
  }

  for (const service of services) {
    await service.start();
    log.info({ component: service.name }, 'started');
  }
  const address = await http.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  log.info({ address, roles: [...roles] }, 'listening');

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop taking requests first, then let each role finish and commit its in-flight work, then
      // release the connections everything shared.
      await http.close();
      for (const service of [...services].reverse()) {
        await service
          .stop()
          .catch((err: unknown) => log.error({ err, component: service.name }, 'stop failed'));
      }
      await kafkaHealth.close();
      await context.publisher.close().catch(() => undefined);
      await pool.end();
    })());
  return { context, http, address: address.replace(/^https?:\/\//, ''), stop };
}
