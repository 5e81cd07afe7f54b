import type { FastifyInstance } from 'fastify';
import type * as CoalescingPublisherModule from './application/coalescing-publisher';
import type * as PolicyStoreModule from './application/policy-store';
import type { AppContext, Service } from './application/roles';
import type { Config } from './config';
import type * as HttpApiModule from './http/api';
import type * as HttpReadModule from './http/read';
import type * as HttpServerModule from './http/server';
import { ensureTopics, serviceTopics } from './infra/kafka-topics';
import { systemClock, type Clock } from './infra/clock';
import { autovacuumAdvisory } from './infra/autovacuum';
import { createPool } from './infra/db';
import { createKafka, KafkaHealth, KafkaPublisher } from './infra/kafka';
import type { Logger } from './infra/logger';
import { PgListener } from './infra/pg-listener';
import { createMetricsRegistry } from './infra/metrics';
import type * as ProjectorModule from './projector';
import type { Projector } from './projector';
import { createSchedulerServices } from './scheduler';

/**
 * Loads a module of this package when first needed rather than when this file loads: the modules
 * the scheduler does not need (fastify, the routes and their schemas, the projector) take a few
 * hundred ms to load, and after a crash overdue timers fire before they do (issue 12, restart to
 * firing). `require`, not `import()`: under `node --require tsx/cjs` (npm run up) a dynamic import
 * goes to Node's ESM loader, which does not resolve TypeScript files.
 */
function lazy<T>(path: string): T {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberate lazy load, above
  return require(path) as T;
}

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
  // Loaded here, not at the top: after a crash the scheduler starts firing before these load
  // (startApp; issue 12, restart to firing).
  const { CoalescingPublisher } = lazy<typeof CoalescingPublisherModule>(
    './application/coalescing-publisher',
  );
  const { registerApiFoundation, registerIngestApi } = lazy<typeof HttpApiModule>('./http/api');
  const { registerReadApi } = lazy<typeof HttpReadModule>('./http/read');
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
  const streamListener = new PgListener(
    streamListenPool,
    context.log.child({ listener: 'stream' }),
  );
  return [releaseListenPool, ...registerReadApi(http, context, streamListener)];
}

/**
 * Starts the roles independently (issue 12): the scheduler fires and the HTTP API answers as soon
 * as Postgres and Kafka do, whatever the projector's consumer group is doing; the projector joins
 * its group in the background (after a crash the group may first have to drop the dead member),
 * retrying until it is in. /readyz reports each role's state.
 */
export async function startApp(context: AppContext): Promise<RunningApp> {
  const { config, log, pool } = context;
  const kafkaHealth = new KafkaHealth(context.kafka);
  const roles = new Set(config.ROLES);
  /** Role → what it is doing now, for /readyz. */
  const roleStates: Record<string, () => string> = {};
  // Missing topics would stop the projector and fail every POST; a broker that is down now is
  // not fatal (/readyz says so, the roles retry), so neither is failing to create them. Only the
  // projector waits for this (it cannot subscribe to a missing topic).
  const topicsReady = config.KAFKA_CREATE_TOPICS
    ? ensureTopics(context.kafka, serviceTopics(config)).then(
        (created) => void (created.length > 0 && log.info({ topics: created }, 'created topics')),
        (err: unknown) => log.warn({ err }, 'could not create the Kafka topics; continuing'),
      )
    : Promise.resolve();

  const services: Service[] = [];
  const start = async (started: Service[]) => {
    for (const service of started) {
      await service.start();
      log.info({ component: service.name }, 'started');
      services.push(service);
    }
  };
  if (roles.has('scheduler')) {
    // roles: scheduler (timer runner and outbox relay): first, so overdue timers fire at once
    // (before the API's routes are even registered).
    // One LISTEN connection for the timer runner and the outbox relay (src/infra/pg-listener.ts).
    const listener = new PgListener(pool, log);
    // The relay's own producer: its requests neither wait behind the API's produce calls nor
    // (not idempotent, see PublisherOptions) behind each other.
    const relayPublisher = new KafkaPublisher(context.kafka, config.KAFKA_PRODUCE_TIMEOUT_MS, {
      idempotent: false,
    });
    const scheduler = createSchedulerServices({ ...context, listener, publisher: relayPublisher });
    const closeRelayPublisher: Service = {
      name: 'relayPublisher',
      // Connected while the timer runner starts and claims: the relay's first send is not kept
      // waiting for it.
      start: async () => relayPublisher.warmUp(),
      // Stopped after the relay (services stop in reverse order).
      stop: () => relayPublisher.close(),
    };
    await start([closeRelayPublisher, ...scheduler.services]);
    roleStates.scheduler = () => 'running';
    // Overdue timers fire and reach Kafka before the rest starts: registering the API's routes
    // holds the event loop for a second or more on a busy machine. Bounded: a huge backlog keeps
    // draining while the rest starts.
    await Promise.race([
      scheduler.runner.settled().then(() => {
        scheduler.relay.kick(); // what the rounds wrote, without waiting for their NOTIFY
        return scheduler.relay.settled();
      }),
      new Promise((resolve) => setTimeout(resolve, 2_000).unref()),
    ]);
  }
  // The HTTP server and the other roles' modules load only now: loading them (fastify, the routes'
  // schemas, the projector) takes a few hundred ms, which after a crash would delay overdue timers.
  const { buildServer } = lazy<typeof HttpServerModule>('./http/server');
  const http = buildServer({
    logger: log,
    metrics: context.metrics,
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: config.HTTP_CONNECTION_TIMEOUT_MS,
    readiness: [
      { name: 'postgres', check: () => pool.query('SELECT 1').then(() => undefined) },
      { name: 'kafka', check: () => kafkaHealth.check() },
    ],
    roles: () => Object.fromEntries(Object.entries(roleStates).map(([r, state]) => [r, state()])),
    advisories: [{ name: 'autovacuum', check: autovacuumAdvisory(pool) }],
  });

  let projector: { stop(): Promise<void> } | null = null;
  if (roles.has('projector')) {
    // roles: projector (incident.events → read models, exactly once; src/projector), joining its
    // consumer group in the background, from now on: the sooner it asks, the sooner it is in.
    const { createPolicyStore, loadConfiguredPolicy } = lazy<typeof PolicyStoreModule>(
      './application/policy-store',
    );
    const { createProjectorService } = lazy<typeof ProjectorModule>('./projector');
    const policies = createPolicyStore(
      pool,
      await loadConfiguredPolicy(config.POLICY_FILE),
      context.log,
    );
    const service = await createProjectorService(context, policies);
    const background = startInBackground(service, topicsReady, log);
    roleStates.projector = () => background.state();
    projector = background;
  }

  if (roles.has('api')) {
    // roles: api — the routes are registered in registerApiRole above. Events are accepted only
    // once the topics exist (a broker with auto-creation would otherwise make them with its
    // default partition count); bounded, so that with Kafka away /readyz still answers and says so.
    await Promise.race([topicsReady, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    await start(await registerApiRole(http, context));
    roleStates.api = () => 'running';
  }
  const address = await http.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  log.info({ address, roles: [...roles] }, 'listening');

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      // Stop taking requests first, then let each role finish and commit its in-flight work (the
      // projector leaves its group at once), then release the connections everything shared.
      await http.close();
      await projector
        ?.stop()
        .catch((err: unknown) => log.error({ err, component: 'projector' }, 'stop failed'));
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

/**
 * Starts the projector without holding up the rest: after `before`, `start` is retried with a
 * growing pause until it succeeds (Kafka or Postgres away at start) or `stop` is called.
 */
function startInBackground(
  projector: Projector,
  before: Promise<void>,
  log: Logger,
): { state(): string; stop(): Promise<void> } {
  let stopped = false;
  let wake: () => void = () => undefined;
  const running = (async () => {
    await before;
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await projector.start();
        log.info({ component: projector.name }, 'started');
        return;
      } catch (err) {
        if (stopped) return;
        log.error({ err, component: projector.name, attempt }, 'projector start failed; retrying');
        await projector.stop().catch(() => undefined);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(10_000, 500 * 2 ** attempt));
        });
      }
    }
  })();
  return {
    state: () => projector.state,
    async stop() {
      stopped = true;
      wake();
      // A join in progress is abandoned: stop() disconnects, which ends it.
      await projector.stop();
      await running.catch(() => undefined);
    },
  };
}
