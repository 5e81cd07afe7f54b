import type { FastifyInstance } from 'fastify';
import { loadConfig, type Config } from '../../../src/config';
import { CoalescingPublisher } from '../../../src/application/coalescing-publisher';
import { registerApiFoundation, registerIngestApi } from '../../../src/http/api';
import { createApiKey } from '../../../src/http/api-keys';
import { buildServer } from '../../../src/http/server';
import type { Clock } from '../../../src/infra/clock';
import type { EventPublisher } from '../../../src/infra/kafka';
import { createLogger, type Logger } from '../../../src/infra/logger';
import { createMetricsRegistry } from '../../../src/infra/metrics';
import { InMemoryPublisher } from './fakes';

/** 2026-11-24T02:00:00Z: "now" for every ingest unit test. */
export const NOW = Date.UTC(2026, 10, 24, 2, 0, 0);

export interface TestApi {
  app: FastifyInstance;
  publisher: InMemoryPublisher;
  /** `Authorization` header values per scope set. */
  auth: { writer: string; reader: string; all: string };
  config: Config;
}

/** The api role's ingest half on a fresh server with an in-memory publisher and a fixed clock. */
export async function buildTestApi(
  env: Record<string, string> = {},
  options: { publisher?: EventPublisher; logger?: Logger; clock?: Clock } = {},
): Promise<TestApi> {
  const writer = createApiKey(['events:write'], 'writer');
  const reader = createApiKey(['incidents:read'], 'reader');
  const all = createApiKey(['events:write', 'incidents:read', 'admin'], 'all');
  const config = loadConfig({
    API_KEYS: [writer, reader, all].map((k) => k.configEntry).join(','),
    LOAD_SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...env,
  });
  const log = options.logger ?? createLogger('silent');
  const metrics = createMetricsRegistry();
  const publisher = (options.publisher ?? new InMemoryPublisher()) as InMemoryPublisher;
  const app = buildServer({ logger: log, metrics, readiness: [] });
  const context = {
    config,
    log,
    metrics,
    clock: options.clock ?? { now: () => NOW },
    publisher,
  };
  await registerApiFoundation(app, context);
  // As the composition root wires it (registerApiRole): concurrent POSTs share produce calls.
  const ingestPublisher = new CoalescingPublisher(publisher, {
    defaultTimeoutMs: config.INGEST_PUBLISH_TIMEOUT_MS,
  });
  app.addHook('onClose', () => ingestPublisher.close());
  await registerIngestApi(app, { ...context, publisher: ingestPublisher });
  await app.ready();
  return {
    app,
    publisher,
    config,
    auth: {
      writer: `Bearer ${writer.token}`,
      reader: `Bearer ${reader.token}`,
      all: `Bearer ${all.token}`,
    },
  };
}

export function reportedEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    specversion: '1.0',
    id: 'evt-1',
    source: '/servicedesk',
    type: 'incident.reported',
    subject: 'INC-2026-000123',
    time: '2026-11-24T10:00:00+08:00',
    data: { severity: 'I', title: 'Core switch down', site: '长葛 data centre' },
    ...overrides,
  };
}
