import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { problem } from './server';

type UnderPressureHandler = NonNullable<Parameters<typeof underPressure>[1]['pressureHandler']>;

/**
 * Protection of the authenticated routes (body limits and socket timeouts are set per route and in
 * buildServer): a request budget per API key, and load shedding when the event loop lags, so that
 * an overloaded process answers 503 quickly instead of letting every request time out slowly.
 * Public routes (health, metrics, docs) are exempt from both: probes must see the truth, not a 429.
 */
export interface ProtectionSettings {
  /** Requests per API key per window; 0 turns the limit off. */
  rateLimitMax: number;
  rateLimitWindowMs: number;
  /** 503 while the mean event-loop delay exceeds this; 0 turns shedding off. */
  maxEventLoopDelayMs: number;
  /** How often the event-loop delay is sampled (tests shorten it). */
  sampleIntervalMs?: number;
}

/** Register before the routes it protects: the rate limiter attaches itself through `onRoute`. */
export async function installProtection(
  app: FastifyInstance,
  settings: ProtectionSettings,
  metrics: Registry,
): Promise<void> {
  const rejected = new Counter({
    name: 'sla_http_rejected_total',
    help: 'Requests refused before reaching a handler, by reason (rate_limited, overloaded)',
    labelNames: ['reason'],
    registers: [metrics],
  });

  if (settings.rateLimitMax > 0) {
    await app.register(rateLimit, {
      global: true,
      max: settings.rateLimitMax,
      timeWindow: settings.rateLimitWindowMs,
      // Runs after authentication (an instance-level onRequest hook), so the key is known.
      keyGenerator: (req) => req.principal?.keyId ?? req.ip,
      allowList: (req) => req.principal === undefined,
      onExceeded: () => rejected.inc({ reason: 'rate_limited' }),
      errorResponseBuilder: (_req, context) =>
        Object.assign(
          new Error(`rate limit of ${context.max} requests exceeded; retry in ${context.after}`),
          { statusCode: context.statusCode, code: 'rate_limited' },
        ),
    });
  }

  // under-pressure sends a non-null return value as the reply, and goes on with the request when
  // the value is undefined (its typings say void; the behaviour is documented in its README).
  const shed = (req: FastifyRequest, reply: FastifyReply) => {
    if (req.routeOptions.config.public === true) return undefined; // let probes through
    rejected.inc({ reason: 'overloaded' });
    void reply.code(503).header('retry-after', '1');
    return problem(503, 'overloaded', 'the service is overloaded; retry later');
  };
  if (settings.maxEventLoopDelayMs > 0) {
    await app.register(underPressure, {
      maxEventLoopDelay: settings.maxEventLoopDelayMs,
      sampleInterval: settings.sampleIntervalMs ?? 500,
      pressureHandler: shed as unknown as UnderPressureHandler,
    });
  }
}
