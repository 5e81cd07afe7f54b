import swagger from '@fastify/swagger';
import type { StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { IngestService } from '../application/ingest';
import type { AppContext } from '../application/roles';
import { ApiKeyStore } from './api-keys';
import { installAuth } from './auth';
import { registerIngestRoutes } from './ingest';
import { ApiDocs, type RouteDocs } from './openapi';
import { installProtection } from './protection';

declare module 'fastify' {
  interface FastifyInstance {
    /** The OpenAPI collector of the api role (scripts/gen-contracts.ts reads it). */
    apiDocs?: ApiDocs;
  }
}

/**
 * The `api` role's common ground and its ingest half: authentication, protection and the API
 * documentation, which must be in place before any route of the role is registered (rate limiting
 * and the OpenAPI collector see routes through `onRoute`), then POST /v1/events. Registering routes
 * must not do I/O: scripts/gen-contracts.ts builds the whole role to write openapi.yaml.
 */
export async function registerApiFoundation(
  app: FastifyInstance,
  context: Pick<AppContext, 'config' | 'log' | 'metrics'>,
): Promise<ApiDocs> {
  const { config, log, metrics } = context;
  const docs = new ApiDocs(API_INFO, OPS_ROUTES, API_SERVERS);
  docs.collect(app);
  app.decorate('apiDocs', docs);
  const keys = ApiKeyStore.fromConfig(config.API_KEYS);
  if (keys.size === 0)
    log.warn({ component: 'auth' }, 'API_KEYS is empty: every /v1 route answers 401');
  installAuth(app, keys);
  await installProtection(
    app,
    {
      rateLimitMax: config.RATE_LIMIT_MAX,
      rateLimitWindowMs: config.RATE_LIMIT_WINDOW_MS,
      maxEventLoopDelayMs: config.LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS,
    },
    metrics,
  );
  await serveDocs(app, docs);
  return docs;
}

/**
 * POST /v1/events. `context.publisher` is the one the composition root built for ingest: in the
 * service, a CoalescingPublisher over the Kafka publisher (src/application/coalescing-publisher.ts),
 * closed by whoever built it.
 */
export async function registerIngestApi(
  app: FastifyInstance,
  context: Pick<AppContext, 'config' | 'clock' | 'publisher' | 'metrics'>,
): Promise<void> {
  const { config } = context;
  const ingest = new IngestService(
    context.publisher,
    context.clock,
    {
      topic: config.KAFKA_TOPIC_EVENTS,
      maxEventAgeMs: config.INGEST_MAX_EVENT_AGE_MS,
      publishTimeoutMs: config.INGEST_PUBLISH_TIMEOUT_MS,
    },
    context.metrics,
  );
  await registerIngestRoutes(app, {
    ingest,
    maxBatch: config.INGEST_MAX_BATCH,
    bodyLimitBytes: config.INGEST_BODY_LIMIT_BYTES,
  });
}

/**
 * GET /openapi.json and the docs page at /docs, both public. The document is built once every
 * route is known (onReady) and filled into the object @fastify/swagger serves in static mode.
 */
async function serveDocs(app: FastifyInstance, docs: ApiDocs): Promise<void> {
  const document: Record<string, unknown> = {};
  app.addHook('onReady', async () => {
    Object.assign(document, docs.document());
  });
  app.get(
    '/openapi.json',
    { config: { public: true }, schema: { hide: true } },
    async () => document,
  );
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, public: true };
    });
    await scope.register(swagger, {
      mode: 'static',
      // Filled in place on ready; the plugin only keeps the reference.
      specification: { document: document as unknown as StaticDocumentSpec['document'] },
    });
    await scope.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  });
}

export const API_INFO = {
  title: 'SLA timer service',
  version: '1',
  description:
    'Incident lifecycle events in (POST /v1/events), SLA projections out. Every /v1 route needs ' +
    'an API key (`Authorization: Bearer <token>`) with the scope its security requirement names. ' +
    'Errors share one body (Problem); 400 and 422 list every offending field in `details`.',
  // package.json's licence (SPDX id, as OpenAPI 3.1 allows instead of a URL).
  license: { name: 'Apache License 2.0', identifier: 'Apache-2.0' },
};

/**
 * `servers` of the document: one templated URL whose `host` defaults to where `npm run up` serves
 * (HTTP_HOST 127.0.0.1, HTTP_PORT 8080); the docs page at /docs lets a reader set it to the real
 * address of a deployment.
 */
export const API_SERVERS = [
  {
    url: 'http://{host}',
    description: 'The service; `host` is HTTP_HOST:HTTP_PORT (or the address in front of it)',
    variables: {
      host: { default: '127.0.0.1:8080', description: 'host:port of the service' },
    },
  },
];

const statusText = z.object({ status: z.string() });
const OPS_ROUTES: { method: string; url: string; docs: RouteDocs }[] = [
  {
    method: 'GET',
    url: '/healthz',
    docs: {
      summary: 'Liveness: the process answers',
      tags: ['operations'],
      operationId: 'getHealth',
      responses: { 200: statusText },
    },
  },
  {
    method: 'GET',
    url: '/readyz',
    docs: {
      summary: 'Readiness: Kafka and Postgres are reachable',
      description:
        'Ready (200) as soon as the process accepts events and fires timers: Postgres and Kafka ' +
        'answer. `roles` gives the state of each role this process runs: `api` and `scheduler` ' +
        '`running`; the projector `joining` (its consumer group), `running`, `rebalancing`, ' +
        '`failed` or `stopped`. A projector still joining does not make the process unready.',
      tags: ['operations'],
      operationId: 'getReadiness',
      responses: {
        200: z.object({
          status: z.literal('ready'),
          checks: z.record(z.string(), z.string()),
          missing: z.array(z.string()),
          roles: z.record(z.string(), z.string()),
          /** Advisories that do not fail readiness (e.g. autovacuum off: README "Storage"). */
          warnings: z.array(z.string()).optional(),
        }),
        503: {
          description: 'A dependency is unreachable; `missing` names it',
          content: {
            'application/json': z.object({
              status: z.literal('unavailable'),
              checks: z.record(z.string(), z.string()),
              missing: z.array(z.string()),
              roles: z.record(z.string(), z.string()),
              /** Advisories that do not fail readiness (e.g. autovacuum off). */
              warnings: z.array(z.string()).optional(),
            }),
          },
        },
      },
    },
  },
  {
    method: 'GET',
    url: '/metrics',
    docs: {
      summary: 'Prometheus metrics',
      tags: ['operations'],
      operationId: 'getMetrics',
      responses: {
        200: {
          description: 'Prometheus text exposition format',
          content: { 'text/plain; version=0.0.4': z.string() },
        },
      },
    },
  },
];
