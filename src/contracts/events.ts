import { hash } from 'node:crypto';
import { z } from 'zod';
import {
  COST_KINDS,
  SERVICE_KINDS,
  SEVERITIES,
  type EventDataByType,
  type IncidentEvent,
} from '../domain';

/**
 * The incident lifecycle events of SPEC §3: CloudEvents 1.0, structured JSON mode. These schemas are
 * the one definition of what `POST /v1/events` accepts, what goes onto `incident.events`, what the
 * projector accepts back from Kafka, and what openapi.yaml / asyncapi.yaml document.
 *
 * Every object is strict (unknown fields are errors, so a typo never silently drops data), every
 * string is length-bounded, and identifiers use a small character set: they become Kafka keys,
 * Postgres keys and URL path segments (`/v1/incidents/{id}`), so no `/`, no spaces, no controls.
 * Free text rejects NUL and other control characters and unpaired surrogates, which Postgres `jsonb`
 * would refuse at projection time, long after the producer got its 202.
 */

export const LIMITS = {
  idLength: 128,
  sourceLength: 256,
  nameLength: 200,
  titleLength: 500,
  textLength: 4000,
  listItems: 50,
  /** Largest amount in minor units: 10^12 fen is ¥10 billion; far inside 2^53. */
  amount: 1_000_000_000_000,
  /** People on one dispatch. */
  persons: 1000,
  /** Working days of one dispatch. */
  days: 366,
} as const;

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
/** A URI-reference without query, fragment or percent-encoding: `/servicedesk`, `urn:acme:desk`. */
const SOURCE = /^[A-Za-z0-9/][A-Za-z0-9._~:/@+-]*$/;
/** One line: no control characters (C0, DEL, C1) and no unpaired surrogates. */
const LINE = /^[^\p{Cc}\p{Cs}]*$/u;
/** Multi-line text: as LINE, but tab, LF and CR are allowed. */
const TEXT = /^(?:[^\p{Cc}\p{Cs}]|[\t\n\r])*$/u;

export const identifier = (max: number) =>
  z
    .string()
    .min(1, { error: 'must not be empty', abort: true })
    .max(max, { error: `must be at most ${max} characters`, abort: true })
    .regex(
      ID,
      'must start with a letter or digit and use only letters, digits, ".", "_", ":", "-"',
    );

/**
 * An ISO-8601 instant with an offset, given back in UTC (`…Z`), in the years 1000–9999: an offset
 * beyond ±15:59 or a year 0 reached Postgres and came back a 500 (found by a tester).
 */
export const instantParam = z.iso
  .datetime({
    offset: true,
    message: 'must be an ISO-8601 instant with an offset, e.g. 2026-11-24T10:00:00+08:00',
  })
  .transform((text, ctx) => {
    const ms = Date.parse(text);
    const year = new Date(ms).getUTCFullYear();
    if (!Number.isFinite(ms) || year < 1000 || year > 9999) {
      ctx.addIssue({ code: 'custom', message: 'must be in the years 1000 to 9999' });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  });

export const line = (max: number) =>
  z
    .string()
    .min(1, { error: 'must not be empty', abort: true })
    .max(max, { error: `must be at most ${max} characters`, abort: true })
    .regex(LINE, 'must not contain control characters or unpaired surrogates');

const text = (max: number) =>
  z
    .string()
    .min(1, { error: 'must not be empty', abort: true })
    .max(max, { error: `must be at most ${max} characters`, abort: true })
    .regex(TEXT, 'must not contain control characters (other than tab and newlines)');

const names = () =>
  z
    .array(line(LIMITS.nameLength))
    .min(1, 'must not be empty')
    .max(LIMITS.listItems, `must have at most ${LIMITS.listItems} items`);

export const severitySchema = z
  .enum(SEVERITIES)
  .describe('I critical, II major, III significant, IV general (SPEC §2)');
export const tierSchema = z
  .literal([1, 2, 3])
  .describe('1 first line, 2 second line, 3 third line and vendor support');

/**
 * `time` is when the event happened; the SLA clock uses it, never the arrival time. RFC 3339 with an
 * explicit offset (`Z` or `±hh:mm`); impossible dates (Feb 30, hour 24) fail the pattern.
 */
export const eventTimeSchema = z.iso
  .datetime({
    offset: true,
    error: 'must be an RFC 3339 date-time with an offset, e.g. 2026-11-24T10:00:00+08:00',
  })
  .max(40, { error: 'must be at most 40 characters', abort: true });

/** ISO 4217 codes in use (as the runtime's ICU knows them: CNY, EUR, USD, JPY…). */
const CURRENCIES: ReadonlySet<string> = new Set(Intl.supportedValuesOf('currency'));

export const currencySchema = z
  .string()
  .regex(/^[A-Z]{3}$/, {
    error: 'must be an ISO 4217 code of three capital letters, e.g. CNY',
    abort: true,
  })
  .refine((c) => CURRENCIES.has(c), 'must be an ISO 4217 currency code in use, e.g. CNY')
  .describe('ISO 4217 currency code');

/** An amount in integer minor units (fen for CNY, cents for EUR, yen for JPY). */
const minorUnits = (min: number) =>
  z
    .number()
    .int('must be an integer number of minor units (e.g. fen), not a decimal')
    .min(min, `must be at least ${min}`)
    .max(LIMITS.amount, `must be at most ${LIMITS.amount}`);

/** A cost riding on a lifecycle event: non-negative. */
export const moneySchema = z
  .strictObject({
    amount: minorUnits(0).describe('Integer minor units of the currency (12050 CNY = ¥120.50)'),
    currency: currencySchema,
  })
  .meta({ id: 'Money' });

const count = (max: number) =>
  z
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(max, `must be at most ${max}`);

/** data of each event type, SPEC §3 ("required → optional"). */
export const eventDataSchemas = {
  'incident.reported': z.strictObject({
    severity: severitySchema,
    title: line(LIMITS.titleLength),
    category: line(LIMITS.nameLength).optional(),
    customer: line(LIMITS.nameLength).optional(),
    site: line(LIMITS.nameLength).optional(),
    reporter: line(LIMITS.nameLength).optional(),
    policyId: identifier(64).optional(),
    serviceKind: z
      .enum(SERVICE_KINDS)
      .optional()
      .describe(
        'after_sales (the default) or installation: counted apart in the monthly statistics',
      ),
  }),
  'incident.acknowledged': z.strictObject({ by: line(LIMITS.nameLength).optional() }),
  'incident.dispatched': z
    .strictObject({
      engineers: names().optional(),
      persons: count(LIMITS.persons)
        .optional()
        .describe('People sent (人次); default: the engineers named, else 1'),
      days: count(LIMITS.days).optional().describe('Working days of this dispatch (default 1)'),
      travelCost: moneySchema
        .optional()
        .describe('Cost of sending the people (travel, allowances): the dispatch cost'),
    })
    .refine((d) => d.persons === undefined || d.persons >= (d.engineers?.length ?? 0), {
      path: ['persons'],
      error: 'must be at least the number of engineers named',
    }),
  'incident.arrived': z.strictObject({
    engineer: line(LIMITS.nameLength).optional(),
    travelCost: moneySchema
      .optional()
      .describe('Cost of the journey, when known on arrival (not also on the dispatch)'),
  }),
  'incident.diagnosed': z.strictObject({ cause: text(LIMITS.textLength).optional() }),
  'incident.solution_provided': z.strictObject({
    kind: z.enum(['solution', 'workaround']),
    detail: text(LIMITS.textLength).optional(),
  }),
  'incident.spare_parts_provided': z.strictObject({
    parts: names().optional(),
    materialCost: moneySchema.optional().describe('Cost of the parts'),
    transportCost: moneySchema.optional().describe('Cost of shipping the parts (运输)'),
  }),
  'incident.assigned': z.strictObject({
    assignee: line(LIMITS.nameLength),
    tier: tierSchema.optional(),
  }),
  'incident.escalated': z.strictObject({ toTier: tierSchema, reason: text(LIMITS.textLength) }),
  'incident.severity_changed': z.strictObject({
    severity: severitySchema,
    reason: text(LIMITS.textLength),
  }),
  'incident.paused': z.strictObject({ reason: text(LIMITS.textLength) }),
  'incident.resumed': z.strictObject({ reason: text(LIMITS.textLength) }),
  'incident.resolved': z.strictObject({ resolution: text(LIMITS.textLength).optional() }),
  'incident.closed': z.strictObject({ confirmedBy: line(LIMITS.nameLength).optional() }),
  'incident.reopened': z.strictObject({ reason: text(LIMITS.textLength) }),
  'incident.cancelled': z.strictObject({ reason: text(LIMITS.textLength) }),
  'incident.followed_up': z.strictObject({
    channel: z.enum(['phone', 'visit', 'form']).describe('How the customer was reached (§4.5.7.6)'),
    satisfaction: z
      .literal([1, 2, 3, 4, 5])
      .optional()
      .describe('Satisfaction score, 1 very dissatisfied to 5 very satisfied (§4.5.3.3 item 7)'),
    note: text(LIMITS.textLength).optional(),
  }),
  'incident.cost_recorded': z.strictObject({
    kind: z.enum(COST_KINDS),
    amount: minorUnits(-LIMITS.amount).describe(
      'Integer minor units; negative corrects an earlier cost',
    ),
    currency: currencySchema,
    note: text(LIMITS.textLength).optional(),
  }),
  // Not about an incident: meets a scheduled inspection (§4.5.8.4); the projector records it apart.
  'inspection.completed': z.strictObject({
    site: line(LIMITS.nameLength),
    inspectionId: identifier(LIMITS.idLength).describe(
      'The due inspection, as listed by GET /v1/inspections',
    ),
    reportRef: line(LIMITS.nameLength).optional().describe('Where the written report is kept'),
  }),
} as const;

export type EventType = keyof typeof eventDataSchemas;
/** Event types that are not about an incident (their subject is not an incident id). */
export type InspectionEventType = 'inspection.completed';
/** Event types about an incident: what the domain's fold sees. */
export type IncidentLifecycleType = Exclude<EventType, InspectionEventType>;

/**
 * The schemas of `schemas` with a JSON Schema not seen before, in order (the first of each shape).
 * Each schema is converted once: this module loads before overdue timers fire after a crash.
 */
function distinctShapes<T extends z.ZodType>(schemas: T[]): T[] {
  const byShape = new Map<string, T>();
  for (const schema of schemas) {
    const shape = JSON.stringify(z.toJSONSchema(schema));
    if (!byShape.has(shape)) byShape.set(shape, schema);
  }
  return [...byShape.values()];
}

/**
 * The `data` of any event type: the body of a binary-mode request (documentation only; requests are
 * validated per type). Types with the same data shape (`{ reason }`) appear once.
 */
export const eventDataSchema = z.union(distinctShapes(Object.values(eventDataSchemas))).meta({
  id: 'IncidentEventData',
  title: 'The data of an incident lifecycle event (binary mode)',
});
export const EVENT_TYPES = Object.keys(eventDataSchemas) as EventType[];

/** The envelope attributes every event carries (everything but `type` and `data`). */
const envelopeShape = {
  specversion: z.literal('1.0'),
  id: identifier(LIMITS.idLength).describe(
    'Unique per source; (source, id) is the idempotency key',
  ),
  source: z
    .string()
    .min(1, { error: 'must not be empty', abort: true })
    .max(LIMITS.sourceLength, {
      error: `must be at most ${LIMITS.sourceLength} characters`,
      abort: true,
    })
    .regex(SOURCE, 'must be a URI reference such as /servicedesk (letters, digits, ._~:/@+-)')
    .describe('The producing system'),
  subject: identifier(LIMITS.idLength).describe(
    'The incident id (inspection.completed: any id, e.g. the inspection id); the Kafka key',
  ),
  time: eventTimeSchema,
  datacontenttype: z.literal('application/json').optional(),
};

function event<T extends EventType, D extends z.ZodType>(type: T, data: D) {
  return z.strictObject({ ...envelopeShape, type: z.literal(type), data });
}

/**
 * One CloudEvent, discriminated on `type`. Types whose data has no required field may omit `data`;
 * it is normalised to `{}` so that every record on the topic (and every digest) has one shape.
 */
const d = eventDataSchemas;
export const cloudEventSchema = z
  .discriminatedUnion('type', [
    event('incident.reported', d['incident.reported']),
    event('incident.acknowledged', d['incident.acknowledged'].default({})),
    event('incident.dispatched', d['incident.dispatched'].default({})),
    event('incident.arrived', d['incident.arrived'].default({})),
    event('incident.diagnosed', d['incident.diagnosed'].default({})),
    event('incident.solution_provided', d['incident.solution_provided']),
    event('incident.spare_parts_provided', d['incident.spare_parts_provided'].default({})),
    event('incident.assigned', d['incident.assigned']),
    event('incident.escalated', d['incident.escalated']),
    event('incident.severity_changed', d['incident.severity_changed']),
    event('incident.paused', d['incident.paused']),
    event('incident.resumed', d['incident.resumed']),
    event('incident.resolved', d['incident.resolved'].default({})),
    event('incident.closed', d['incident.closed'].default({})),
    event('incident.reopened', d['incident.reopened']),
    event('incident.cancelled', d['incident.cancelled']),
    event('incident.followed_up', d['incident.followed_up']),
    event('incident.cost_recorded', d['incident.cost_recorded']),
    event('inspection.completed', d['inspection.completed']),
  ])
  .meta({ id: 'IncidentEvent', title: 'Incident lifecycle event (CloudEvents 1.0)' });

export type CloudEvent = z.output<typeof cloudEventSchema>;
// Compile-time guard: every type with a data schema is part of the union.
const _everyTypeInUnion: [Exclude<EventType, CloudEvent['type']>] extends [never] ? true : never =
  true;
void _everyTypeInUnion;
export type CloudEventInput = z.input<typeof cloudEventSchema>;
export type CloudEventOf<T extends EventType> = Extract<CloudEvent, { type: T }>;

export interface FieldIssue {
  /** Where, e.g. `data.severity`, `[3].time` (batch index 3), `(body)`. */
  path: string;
  message: string;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

/**
 * CloudEvents extension attributes that producers and brokers add on their own: distributed tracing
 * (`traceparent`, `tracestate`), partitioning (`partitionkey`), sequence (`sequence`,
 * `sequencetype`), claim check (`dataref`), and Knative's `knativearrivaltime`; plus the optional
 * core attribute `dataschema`. They are accepted and dropped before validation, so they never
 * change what is recorded or the idempotency digest. Any other unknown attribute stays an error
 * ("unknown field"), so a typo such as `subjet` is never silently ignored.
 */
export const IGNORED_EXTENSION_ATTRIBUTES: readonly string[] = [
  'traceparent',
  'tracestate',
  'partitionkey',
  'sequence',
  'sequencetype',
  'dataref',
  'knativearrivaltime',
  'dataschema',
];

function withoutIgnoredExtensions(json: unknown): unknown {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return json;
  const object = json as Record<string, unknown>;
  if (!IGNORED_EXTENSION_ATTRIBUTES.some((name) => Object.hasOwn(object, name))) return json;
  // fromEntries defines own properties, so a `__proto__` key stays a key (and an unknown field).
  return Object.fromEntries(
    Object.entries(object).filter(([name]) => !IGNORED_EXTENSION_ATTRIBUTES.includes(name)),
  );
}

/** Validates one event (already JSON-parsed). Never throws. */
export function parseEvent(json: unknown): ParseResult<CloudEvent> {
  const result = cloudEventSchema.safeParse(withoutIgnoredExtensions(json));
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, issues: toFieldIssues(result.error, []) };
}

/**
 * Validates a batch as a whole: either every item is valid, or the result lists the issues of every
 * bad item, each path prefixed with the item's index (`[3].data.severity`).
 */
export function parseEvents(items: readonly unknown[]): ParseResult<CloudEvent[]> {
  const events: CloudEvent[] = [];
  const issues: FieldIssue[] = [];
  items.forEach((item, index) => {
    const result = cloudEventSchema.safeParse(withoutIgnoredExtensions(item));
    if (result.success) events.push(result.data);
    else issues.push(...toFieldIssues(result.error, [index]));
  });
  return issues.length ? { ok: false, issues } : { ok: true, value: events };
}

/** zod issues → one readable issue per field (an unknown key is reported at its own path). */
export function toFieldIssues(error: z.ZodError, prefix: (string | number)[]): FieldIssue[] {
  return error.issues.flatMap((issue): FieldIssue[] => {
    const at = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) => ({
          path: formatPath([...at, key]),
          message: 'unknown field',
        }));
      case 'invalid_union':
        if ('discriminator' in issue && issue.discriminator === 'type') {
          return [{ path: formatPath(at), message: `must be one of ${EVENT_TYPES.join(', ')}` }];
        }
        return [{ path: formatPath(at), message: 'invalid value' }];
      case 'invalid_type':
        return [
          {
            path: formatPath(at),
            message: issue.message.endsWith('received undefined')
              ? 'is required'
              : issue.message.replace(/^Invalid input: /, ''),
          },
        ];
      case 'invalid_value':
        return [
          {
            path: formatPath(at),
            message: `must be ${issue.values.length > 1 ? 'one of ' : ''}${issue.values.map((v) => JSON.stringify(v)).join(', ')}`,
          },
        ];
      default:
        return [{ path: formatPath(at), message: issue.message }];
    }
  });
}

/** `['data', 'engineers', 0]` → `data.engineers[0]`; a batch index leads: `[3].time`. */
export function formatPath(path: readonly (string | number)[]): string {
  if (path.length === 0) return '(body)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/**
 * The payload digest used to tell "the same event again" (a retry: harmless) from "a different event
 * under an id already used" (reported, not applied): the first 16 bytes of the SHA-256 of a
 * canonical JSON form, as 32 lowercase hex characters. Sorted keys, `time` as epoch ms (so
 * `+08:00` and `Z` spellings of one instant agree), without `datacontenttype` (its only legal value
 * is the default). The projector stores (incident_events.digest) and compares it.
 */
export function eventDigest(event: CloudEvent): string {
  // canonicalJson({ ...event without datacontenttype, time: epoch ms }), written out: the strict
  // schema fixes the envelope's keys, here in sorted order. The projector digests every event.
  const canonical =
    `{"data":${canonicalJson(event.data)},"id":${JSON.stringify(event.id)},` +
    `"source":${JSON.stringify(event.source)},"specversion":${JSON.stringify(event.specversion)},` +
    `"subject":${JSON.stringify(event.subject)},"time":${JSON.stringify(Date.parse(event.time))},` +
    `"type":${JSON.stringify(event.type)}}`;
  // 16 bytes are plenty to tell a redelivery from other content under the same id, and what
  // incident_events stores (migrations/0019 says why).
  return hash('sha256', canonical, 'hex').slice(0, 32);
}

/**
 * JSON with object keys sorted at every level: equal values give equal strings. Stored digests
 * depend on this exact output (test/unit/contracts/events.test.ts pins it); it runs for every
 * projected event, hence the plain loops.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // As Array.prototype.join writes them: nothing for undefined (never in parsed JSON).
      out += (canonicalJson(value[i]) as string | undefined) ?? '';
    }
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  // The default sort compares UTF-16 code units, as `<` does.
  const keys = Object.keys(object).sort();
  let out = '{';
  for (const key of keys) {
    const v = object[key];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

// --- CloudEvents HTTP binding, binary content mode -------------------------------------------

/**
 * The attributes a binary-mode request must carry as `ce-` headers: the CloudEvents required ones
 * plus `subject` and `time`, which this service requires in every mode (SPEC §3).
 */
export const BINARY_REQUIRED_HEADERS = [
  'ce-specversion',
  'ce-id',
  'ce-source',
  'ce-type',
  'ce-subject',
  'ce-time',
] as const;

const CE_PREFIX = 'ce-';

/** True when the request carries any `ce-` header: binary content mode (unless the media type is a CloudEvents one). */
export function hasBinaryHeaders(headers: Record<string, unknown>): boolean {
  for (const name in headers) if (name.startsWith(CE_PREFIX)) return true;
  return false;
}

/**
 * One event from a binary-mode request (CloudEvents HTTP protocol binding 1.0 §3.1): every `ce-X`
 * header is attribute `X`, its value percent-decoded (§3.1.3.2: UTF-8 bytes as `%XX`); `data` is the
 * parsed body (undefined for an empty one). Then exactly the validation of structured mode
 * (`parseEvent`), with the issues of attributes named by their header (`ce-time`) and those of the
 * data by their path (`data.severity`). Header names arrive lower-cased (node does that). Never
 * throws.
 */
export function parseBinaryEvent(
  headers: Record<string, string | string[] | undefined>,
  data: unknown,
): ParseResult<CloudEvent> {
  const missing = BINARY_REQUIRED_HEADERS.filter((name) => headers[name] === undefined);
  if (missing.length > 0) {
    return {
      ok: false,
      issues: missing.map((name) => ({
        path: name,
        message: 'header is required in binary content mode',
      })),
    };
  }
  const event: Record<string, unknown> = {};
  const issues: FieldIssue[] = [];
  for (const [name, raw] of Object.entries(headers)) {
    if (!name.startsWith(CE_PREFIX) || raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(',') : raw;
    try {
      event[name.slice(CE_PREFIX.length)] = decodeURIComponent(value);
    } catch {
      issues.push({ path: name, message: 'is not valid percent-encoding (UTF-8 bytes as %XX)' });
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  if (data !== undefined) event.data = data;
  const result = parseEvent(event);
  if (result.ok) return result;
  return {
    ok: false,
    issues: result.issues.map((issue) =>
      issue.path === 'data' || issue.path.startsWith('data.') || issue.path.startsWith('data[')
        ? issue
        : { ...issue, path: `${CE_PREFIX}${issue.path}` },
    ),
  };
}

/** The content type of a record on `incident.events` (structured mode). */
export const EVENT_CONTENT_TYPE = 'application/cloudevents+json';

/**
 * Kafka header of `incident.events` records: when the service accepted the event (epoch ms,
 * decimal), recorded with it so that the effective time (SPEC §3) is the same on every replay.
 */
export const ACCEPTED_AT_HEADER = 'sla-accepted-at';

/**
 * The `incident.events` record of an event accepted at `acceptedAt` (epoch ms): key = subject,
 * value = the event JSON without `datacontenttype` (its only legal value is the default; binary
 * mode carries it as the HTTP content type), so an event is the same record whichever content mode
 * carried it. Key order is the schema's, not the caller's.
 */
export function toEventRecord(
  event: CloudEvent,
  acceptedAt: number,
): {
  key: string;
  value: string;
  headers: Record<string, string>;
} {
  const { datacontenttype: _sameInEveryMode, ...recorded } = event;
  return {
    key: event.subject,
    value: JSON.stringify(recorded),
    headers: {
      'content-type': EVENT_CONTENT_TYPE,
      [ACCEPTED_AT_HEADER]: String(Math.trunc(acceptedAt)),
    },
  };
}

/**
 * Reads an `incident.events` record value back (projector side). A value that is not JSON or not a
 * valid event is an issue list, never an exception, so the caller can route it to the DLQ.
 */
export function decodeEventRecord(value: Buffer | string | null): ParseResult<CloudEvent> {
  if (value === null) return { ok: false, issues: [{ path: '(body)', message: 'empty record' }] };
  let json: unknown;
  try {
    json = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch (err) {
    return {
      ok: false,
      issues: [{ path: '(body)', message: `not JSON: ${(err as Error).message}` }],
    };
  }
  return parseEvent(json);
}

/**
 * The domain's view of a validated event: `subject` becomes `incidentId`, `time` becomes epoch ms.
 * The schemas above are a subset of the domain's `EventDataByType` (checked by the compiler here), so
 * the data object passes through unchanged. Not for `inspection.completed` (the projector routes
 * those apart before: see src/projector/decode.ts).
 */
export function toDomainEvent(event: CloudEvent): IncidentEvent {
  const { id, source, type, subject, time, data } = event;
  return { id, source, type, incidentId: subject, at: Date.parse(time), data } as IncidentEvent;
}

// Compile-time guard for the cast above: each type's parsed data fits the domain's data type.
type DataFitsDomain = {
  [T in IncidentLifecycleType]: CloudEventOf<T>['data'] extends EventDataByType[T] ? true : T;
}[IncidentLifecycleType];
const _dataFitsDomain: DataFitsDomain = true;
void _dataFitsDomain;

// --- POST /v1/events bodies -------------------------------------------------------------------

/** A batch: 1 to `maxItems` events, validated as a whole (parseEvents gives per-index issues). */
export function eventBatchSchema(maxItems: number) {
  return z.array(cloudEventSchema).min(1).max(maxItems);
}

/** The 202 answer: the ids of the events Kafka acknowledged, in request order. */
export const ingestAcceptedSchema = z
  .object({
    accepted: z.number().int().min(1).describe('How many events were written'),
    ids: z.array(z.string()).describe('Their ids, in request order'),
  })
  .meta({ id: 'IngestAccepted' });
