import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { IngestService } from '../application/ingest';
import {
  cloudEventSchema,
  EVENT_TYPES,
  eventBatchSchema,
  eventDataSchema,
  hasBinaryHeaders,
  ingestAcceptedSchema,
  parseBinaryEvent,
  parseEvent,
  parseEvents,
  type CloudEvent,
  type FieldIssue,
  type ParseResult,
} from '../contracts/events';
import { problemSchema } from '../contracts/http-common';
import { ValidationError } from '../errors';
import { requireScope } from './auth';
import type { RouteDocs } from './openapi';
import { problem } from './server';

/**
 * POST /v1/events (SPEC §3, §5): the CloudEvents HTTP protocol binding in its three content modes.
 *
 * - structured: `application/cloudevents+json`, one event as the body;
 * - batch: `application/cloudevents-batch+json`, a JSON array of events;
 * - binary: any request with `ce-` headers and another media type: the attributes are the `ce-`
 *   headers (percent-decoded), the body is `data` (JSON: `application/json`, or empty).
 *
 * Plain `application/json` without `ce-` headers is taken as structured (an object) or batch (an
 * array), as before the binding was complete. Every mode ends in the same zod schemas of
 * src/contracts/events.ts (fastify's own validation is off for this route: a batch needs per-index
 * messages that a generic validator cannot give) and the same ingest call, so the mode never changes
 * what is validated or recorded.
 */

const SINGLE = 'application/cloudevents+json';
const BATCH = 'application/cloudevents-batch+json';
/** Enough details to fix a request; a batch of 500 broken items does not need 5,000 lines. */
const MAX_DETAILS = 100;

export interface IngestRouteOptions {
  ingest: IngestService;
  maxBatch: number;
  bodyLimitBytes: number;
}

export async function registerIngestRoutes(
  app: FastifyInstance,
  options: IngestRouteOptions,
): Promise<void> {
  await app.register(async (scope) => {
    // Only the three JSON media types; anything else (text/plain included) is a 415.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      ['application/json', SINGLE, BATCH],
      { parseAs: 'string' },
      parseJson,
    );
    scope.addContentTypeParser('*', (request, _payload, done) => {
      const type = (request.headers['content-type'] ?? '(none)').slice(0, 100);
      const message = hasBinaryHeaders(request.headers)
        ? `unsupported content type ${type}: in binary content mode the body is the event's data, ` +
          'sent as application/json'
        : `unsupported content type ${type}; send application/json, ${SINGLE} or ${BATCH}`;
      done(Object.assign(new Error(message), { statusCode: 415, code: 'unsupported_media_type' }));
    });
    scope.post(
      '/v1/events',
      {
        bodyLimit: options.bodyLimitBytes,
        // Before the body is read: a caller without the scope learns nothing about its payload.
        onRequest: requireScope('events:write'),
        config: { docs: ingestDocs(options.maxBatch) },
      },
      (request, reply) => handle(request, reply, options),
    );
  });
}

async function handle(
  request: FastifyRequest,
  reply: FastifyReply,
  { ingest, maxBatch }: IngestRouteOptions,
): Promise<FastifyReply> {
  const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const body = request.body;
  if (mediaType !== SINGLE && mediaType !== BATCH && hasBinaryHeaders(request.headers)) {
    const parsed = parseBinaryEvent(request.headers, body);
    if (!parsed.ok) {
      ingest.countInvalid(1);
      throw invalid(parsed.issues);
    }
    return accept(reply, ingest, [parsed.value], false);
  }
  /** The batch items, or null for a single event. */
  const items: unknown[] | null = Array.isArray(body) ? (body as unknown[]) : null;
  const batch = items !== null;
  if (body === undefined) {
    throw invalid([{ path: '(body)', message: 'is required: one event, or an array of events' }]);
  }
  if (mediaType === BATCH && !batch) {
    throw invalid([{ path: '(body)', message: `must be a JSON array of events for ${BATCH}` }]);
  }
  if (mediaType === SINGLE && batch) {
    throw invalid([
      {
        path: '(body)',
        message: `must be one event object for ${SINGLE}; send arrays as ${BATCH}`,
      },
    ]);
  }
  if (items?.length === 0) {
    throw invalid([{ path: '(body)', message: 'must contain at least one event' }]);
  }
  if (items && items.length > maxBatch) {
    return reply
      .code(413)
      .send(
        problem(
          413,
          'batch_too_large',
          `a batch holds at most ${maxBatch} events; got ${items.length}`,
        ),
      );
  }

  const parsed = items ? parseEvents(items) : asList(parseEvent(body));
  if (!parsed.ok) {
    ingest.countInvalid(items?.length ?? 1);
    throw invalid(parsed.issues);
  }
  return accept(reply, ingest, parsed.value, batch);
}

async function accept(
  reply: FastifyReply,
  ingest: IngestService,
  events: CloudEvent[],
  batch: boolean,
): Promise<FastifyReply> {
  const outcome = await ingest.ingest(events, batch);
  if (outcome.kind === 'unprocessable') {
    return reply
      .code(422)
      .send(
        problem(
          422,
          'unprocessable',
          summarize(outcome.issues),
          outcome.issues.slice(0, MAX_DETAILS),
        ),
      );
  }
  return reply.code(202).send({ accepted: outcome.ids.length, ids: outcome.ids });
}

/**
 * Plain JSON.parse, with its message (where the JSON breaks) passed on to the caller. `__proto__`
 * and `constructor` keys need no special rejection here: JSON.parse makes them ordinary own
 * properties, every schema is strict, so they come back as "unknown field", and only the parsed
 * schema output ever leaves the handler.
 */
function parseJson(
  request: FastifyRequest,
  body: string | Buffer,
  done: (err: Error | null, value?: unknown) => void,
): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.length === 0 && hasBinaryHeaders(request.headers)) {
    // Binary mode: no body is no data (allowed for types whose data has no required field).
    done(null, undefined);
    return;
  }
  if (text.length === 0) {
    done(new ValidationError('the body is empty', [{ path: '(body)', message: 'is empty' }]));
    return;
  }
  try {
    done(null, JSON.parse(text));
  } catch (err) {
    const message = `is not valid JSON: ${(err as Error).message}`;
    done(new ValidationError(`the body ${message}`, [{ path: '(body)', message }]));
  }
}

function asList(result: ParseResult<CloudEvent>): ParseResult<CloudEvent[]> {
  return result.ok ? { ok: true, value: [result.value] } : result;
}

function invalid(issues: FieldIssue[]): ValidationError {
  return new ValidationError(summarize(issues), issues.slice(0, MAX_DETAILS));
}

/** `data.severity: must be one of …; time: … (and 3 more)`: the first few issues, readable alone. */
function summarize(issues: FieldIssue[]): string {
  const shown = issues.slice(0, 3).map((i) => `${i.path}: ${i.message}`);
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** The `ce-` headers of binary content mode, as documented header parameters. */
const binaryHeaders = z.object({
  'ce-specversion': z.literal('1.0').optional().describe('Binary mode: the CloudEvents version'),
  'ce-id': z.string().optional().describe('Binary mode: the event `id`'),
  'ce-source': z.string().optional().describe('Binary mode: the event `source`'),
  'ce-type': z.enum(EVENT_TYPES).optional().describe('Binary mode: the event `type`'),
  'ce-subject': z.string().optional().describe('Binary mode: the incident id (`subject`)'),
  'ce-time': z
    .string()
    .optional()
    .describe('Binary mode: the event `time`, RFC 3339 with an offset (`+` may be sent as `%2B`)'),
});

function ingestDocs(maxBatch: number): RouteDocs {
  const batch = eventBatchSchema(maxBatch);
  const problemJson = { 'application/json': problemSchema };
  return {
    summary: 'Post incident lifecycle events',
    description:
      'CloudEvents 1.0 over the HTTP protocol binding, in all three content modes:\n\n' +
      '- **structured**: `application/cloudevents+json`, one event as the body;\n' +
      `- **batch**: \`application/cloudevents-batch+json\`, a JSON array of up to ${maxBatch} ` +
      'events (INGEST_MAX_BATCH);\n' +
      "- **binary** (the CloudEvents SDKs' default): the attributes as `ce-` headers " +
      '(`ce-specversion`, `ce-id`, `ce-source`, `ce-type`, `ce-subject`, `ce-time`: all required ' +
      'in this mode, a missing one is a 400 naming it; values percent-decoded), the body is the ' +
      "event's `data` as `application/json` (no body: no data).\n\n" +
      'Plain `application/json` without `ce-` headers is read as structured (an object) or batch ' +
      '(an array). The mode never changes the validation or what is recorded. Each event goes to ' +
      'Kafka (`incident.events`, key = `subject`, acks=all); 202 only after Kafka acknowledged every ' +
      'event of the request. A batch is all or nothing: one invalid item rejects it, and `details` ' +
      'names each bad index and field. Posting the same event (same `source` and `id`) again, in ' +
      'any mode, is safe: it answers 202 again and is applied once.',
    tags: ['events'],
    operationId: 'postEvents',
    headers: binaryHeaders,
    body: {
      content: {
        'application/cloudevents+json': cloudEventSchema,
        'application/cloudevents-batch+json': batch,
        'application/json': z.union([cloudEventSchema, batch, eventDataSchema]),
      },
    },
    responses: {
      202: {
        description: 'Kafka acknowledged every event',
        content: { 'application/json': ingestAcceptedSchema },
      },
      413: { description: 'The body or the batch is too large', content: problemJson },
      415: {
        description:
          'Not a JSON or CloudEvents JSON media type (binary mode: data not `application/json`)',
        content: problemJson,
      },
      422: {
        description: '`time` more than 5 minutes ahead, or older than INGEST_MAX_EVENT_AGE_MS',
        content: problemJson,
      },
      503: {
        description:
          'Kafka did not acknowledge in time (INGEST_PUBLISH_TIMEOUT_MS), or the service sheds ' +
          'load. The events may or may not have been written: retry with the same ids (applied once).',
        headers: {
          'Retry-After': {
            description: 'Seconds to wait before retrying',
            schema: z.number().int(),
          },
        },
        content: problemJson,
      },
    },
  };
}
