import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyError,
} from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { NotFoundError, UnavailableError, ValidationError, type AppError } from '../errors';
import type { Logger } from '../infra/logger';

/** A dependency /readyz asks; `check` rejects (quickly) when it is not reachable. */
export interface ReadinessCheck {
  name: string;
  check(): Promise<void>;
}

/**
 * Something /readyz reports without failing readiness: `check` resolves to a warning line, or to
 * null when all is well (e.g. autovacuum off, src/infra/autovacuum.ts).
 */
export interface ReadinessAdvisory {
  name: string;
  check(): Promise<string | null>;
}

export interface ServerOptions {
  logger: Logger;
  metrics: Registry;
  readiness: ReadinessCheck[];
  /** Each role this process runs → its state (e.g. the projector `joining`), shown by /readyz. */
  roles?: () => Record<string, string>;
  advisories?: ReadinessAdvisory[];
  bodyLimitBytes?: number;
  /** Time to receive a whole request (config HTTP_REQUEST_TIMEOUT_MS). */
  requestTimeoutMs?: number;
  /** A socket without traffic this long is closed (config HTTP_CONNECTION_TIMEOUT_MS). */
  connectionTimeoutMs?: number;
}

/**
 * The fastify app shared by the ingest and read routes. fastify's defaults have no request or
 * connection timeouts; these are set so that a slow client cannot hold a socket forever.
 */
export function buildServer(options: ServerOptions): FastifyInstance {
  const httpLog: FastifyBaseLogger = options.logger.child({ component: 'http' });
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    loggerInstance: httpLog,
    // Per-request access logs are off: at thousands of events per second they would drown the rest.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    // A path parameter is an incident or schedule id: up to 128 characters (src/contracts/events.ts
    // LIMITS.idLength), 12 URL-encoded bytes each at most. Fastify's default of 100 answered a
    // 101-character incident id, accepted at ingest, with 414 (found by a tester).
    routerOptions: { maxParamLength: 128 * 12 },
    connectionTimeout: options.connectionTimeoutMs ?? 30_000,
    requestTimeout,
    // Given to node's http.createServer as well: node (20) enforces a request timeout only when it
    // was set at construction, and fastify sets it afterwards. And node checks only every 30 s by
    // default (a 5 s timeout would fire after up to 35 s): check a few times per timeout instead
    // (cheap: one pass over the open connections).
    http: {
      requestTimeout,
      connectionsCheckingInterval: Math.max(250, Math.min(30_000, requestTimeout / 4)),
    },
    keepAliveTimeout: 10_000,
    return503OnClosing: true,
    // Proto-poisoning: reject `__proto__` / `constructor` keys in JSON instead of silently keeping them.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });

  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));

  registerReadinessGauge(options.metrics, options.readiness);

  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const results = await runChecks(options.readiness);
    const down = results.filter((r) => !r.ok);
    const checks: Record<string, string> = Object.fromEntries(
      results.map((r) => [r.name, r.ok ? 'ok' : `unavailable: ${r.error}`]),
    );
    // Advisories are reported, never counted against readiness.
    const warnings: string[] = [];
    for (const a of options.advisories ?? []) {
      const warning = await a.check().catch(() => null);
      checks[a.name] = warning === null ? 'ok' : `warning: ${warning}`;
      if (warning !== null) warnings.push(`${a.name}: ${warning}`);
    }
    // Ready means: accepts events and fires timers, i.e. Postgres and Kafka answer. A projector
    // still joining its consumer group is shown, not counted (it catches up from stored offsets).
    return reply.code(down.length ? 503 : 200).send({
      status: down.length ? 'unavailable' : 'ready',
      checks,
      missing: down.map((d) => d.name),
      roles: options.roles?.() ?? {},
      ...(warnings.length > 0 ? { warnings } : {}),
    });
  });

  app.get('/metrics', { config: { public: true } }, async (_req, reply) => {
    reply.type(options.metrics.contentType);
    return options.metrics.metrics();
  });

  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .send(problem(404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`));
  });
  app.setErrorHandler((err: FastifyError | AppError, req, reply) => {
    const { status, body } = toHttp(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (err instanceof UnavailableError) void reply.header('retry-after', '5');
    void reply.code(status).send(body);
  });
  return app;
}

async function runChecks(
  readiness: ReadinessCheck[],
): Promise<({ name: string; ok: true } | { name: string; ok: false; error: string })[]> {
  return Promise.all(
    readiness.map(async (r) => {
      try {
        await r.check();
        return { name: r.name, ok: true as const };
      } catch (err) {
        return { name: r.name, ok: false as const, error: (err as Error).message };
      }
    }),
  );
}

/**
 * `sla_dependency_up{dependency}`: what /readyz says, for Prometheus (it cannot read /readyz's
 * JSON): 1 when the check passes at scrape time, 0 when not. The alert rules in deploy/prometheus
 * page on it. Once per registry (a test may build two servers on one registry).
 */
function registerReadinessGauge(metrics: Registry, readiness: ReadinessCheck[]): void {
  if (readiness.length === 0 || metrics.getSingleMetric('sla_dependency_up')) return;
  new Gauge({
    name: 'sla_dependency_up',
    help: 'Whether a dependency /readyz checks (kafka, postgres) answered at scrape time (1) or not (0)',
    labelNames: ['dependency'],
    registers: [metrics],
    async collect() {
      for (const r of await runChecks(readiness)) this.set({ dependency: r.name }, r.ok ? 1 : 0);
    },
  });
}

export interface Problem {
  status: number;
  code: string;
  message: string;
  details?: { path: string; message: string }[];
}

export function problem(
  status: number,
  code: string,
  message: string,
  details?: Problem['details'],
): Problem {
  return details ? { status, code, message, details } : { status, code, message };
}

/** The only place errors become HTTP statuses. A 5xx never carries an internal message or stack. */
function toHttp(err: FastifyError | AppError): { status: number; body: Problem } {
  if (err instanceof ValidationError)
    return { status: 400, body: problem(400, err.code, err.message, err.details) };
  if (err instanceof NotFoundError)
    return { status: 404, body: problem(404, err.code, err.message) };
  if (err instanceof UnavailableError) {
    return {
      status: 503,
      body: problem(503, err.code, `${err.dependency} is unavailable; retry later`),
    };
  }
  const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 500) return { status: 500, body: problem(500, 'internal', 'internal error') };
  const code =
    'code' in err && typeof err.code === 'string' ? err.code.toLowerCase() : 'bad_request';
  return { status, body: problem(status, code, err.message) };
}
