import fc from 'fast-check';
import { buildTestApi, NOW, reportedEvent, type TestApi } from './app';

/**
 * Property-based requests against POST /v1/events (fastify.inject, in-memory publisher): whatever
 * arrives, the answer is one of the documented statuses, never a 500, the body is a JSON problem or
 * the 202 answer, and Kafka is written to if and only if the answer is 202.
 */

const DOCUMENTED = new Set([202, 400, 401, 403, 413, 415, 422, 429, 503]);

let api: TestApi;
beforeAll(async () => {
  api = await buildTestApi({ INGEST_BODY_LIMIT_BYTES: String(256 * 1024), INGEST_MAX_BATCH: '20' });
});
afterAll(async () => {
  await api.app.close();
});

interface Attempt {
  body: string;
  contentType: string | undefined;
  auth: 'writer' | 'reader' | 'none' | 'garbage';
  kafka: 'ack' | 'down';
}

async function send(a: Attempt) {
  const before = api.publisher.published.length;
  api.publisher.mode = a.kafka;
  const headers: Record<string, string> = {};
  if (a.contentType !== undefined) headers['content-type'] = a.contentType;
  if (a.auth === 'writer') headers.authorization = api.auth.writer;
  if (a.auth === 'reader') headers.authorization = api.auth.reader;
  if (a.auth === 'garbage') headers.authorization = 'Bearer sla_writer_' + 'A'.repeat(43);
  const res = await api.app.inject({ method: 'POST', url: '/v1/events', headers, payload: a.body });
  const written = api.publisher.published.length - before;
  return { res, written };
}

function check({ res, written }: Awaited<ReturnType<typeof send>>): void {
  const where = `${res.statusCode} ${res.body.slice(0, 300)}`;
  expect([where, DOCUMENTED.has(res.statusCode)]).toEqual([where, true]);
  const body = res.json<{ status?: number; accepted?: number; ids?: string[] }>();
  if (res.statusCode === 202) {
    expect(written).toBe(body.accepted);
    expect(body.ids).toHaveLength(written);
  } else {
    expect([where, written]).toEqual([where, 0]);
    expect(body.status).toBe(res.statusCode);
  }
}

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/cloudevents+json',
  'application/cloudevents-batch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  undefined,
);
const auth = fc.constantFrom<Attempt['auth']>(
  'writer',
  'writer',
  'writer',
  'reader',
  'none',
  'garbage',
);
const kafka = fc.constantFrom<Attempt['kafka']>('ack', 'ack', 'down');

const iso = (ms: number) => new Date(ms).toISOString();
/** A valid event, inside the accepted time window (5 minutes ahead to 30 days back). */
const validEvent = fc
  .record({ n: fc.nat(), offsetMin: fc.integer({ min: -60 * 24 * 30 + 1, max: 5 }) })
  .map(({ n, offsetMin }) => reportedEvent({ id: `fz-${n}`, time: iso(NOW + offsetMin * 60_000) }));
/** Valid events with distinct ids: a batch that must be accepted. */
const validBatch = fc.uniqueArray(validEvent, {
  minLength: 1,
  maxLength: 20,
  selector: (e) => e.id,
});
/** Well-formed, but possibly outside the window (422). */
const anyTimeEvent = fc
  .record({ n: fc.nat(), offsetMin: fc.integer({ min: -60 * 24 * 40, max: 60 }) })
  .map(({ n, offsetMin }) => reportedEvent({ id: `fz-${n}`, time: iso(NOW + offsetMin * 60_000) }));

const impossibleDate = fc
  .tuple(
    fc.integer({ min: 0, max: 99999 }),
    fc.integer({ min: 0, max: 19 }),
    fc.integer({ min: 0, max: 40 }),
    fc.integer({ min: 0, max: 30 }),
    fc.integer({ min: 0, max: 70 }),
    fc.constantFrom('Z', '+08:00', '+24:00', '', '-99:99', 'z'),
  )
  .map(([y, m, d, h, mi, tz]) => {
    const p = (v: number, w = 2) => String(v).padStart(w, '0');
    return `${p(y, 4)}-${p(m)}-${p(d)}T${p(h)}:${p(mi)}:00${tz}`;
  });

const nasty = fc.oneof(
  fc.anything(),
  fc.string({ minLength: 5000, maxLength: 20000 }),
  fc.string({ unit: 'binary' }),
  impossibleDate,
  fc
    .integer({ min: 1, max: 3000 })
    .map((n) => JSON.parse('['.repeat(n) + ']'.repeat(n)) as unknown),
  fc
    .integer({ min: 1, max: 3000 })
    .map((n) => JSON.parse('{"a":'.repeat(n) + '1' + '}'.repeat(n)) as unknown),
  fc.constant(JSON.parse('{"__proto__": {"polluted": true}}') as unknown),
  fc.constant({ constructor: { prototype: { polluted: true } } }),
);

const fieldPath = fc.constantFrom(
  ['id'],
  ['source'],
  ['type'],
  ['subject'],
  ['time'],
  ['specversion'],
  ['datacontenttype'],
  ['data'],
  ['data', 'severity'],
  ['data', 'title'],
  ['data', 'site'],
  ['data', '__proto__'],
  ['__proto__'],
  ['constructor'],
  ['extra'],
);

/** A valid event with one field replaced by something nasty (or a new key added). */
const mutatedEvent = fc.tuple(validEvent, fieldPath, nasty).map(([event, path, value]) => {
  const copy = JSON.parse(JSON.stringify(event)) as Record<string, Record<string, unknown>>;
  if (path.length === 1) Object.defineProperty(copy, path[0], { value, enumerable: true });
  else Object.defineProperty(copy.data!, path[1], { value, enumerable: true, writable: true });
  return copy;
});

const stringify = (v: unknown): string => {
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return '"unserializable"';
  }
};

const bodies = fc.oneof(
  { weight: 3, arbitrary: anyTimeEvent.map(stringify) },
  { weight: 2, arbitrary: fc.array(anyTimeEvent, { minLength: 1, maxLength: 22 }).map(stringify) },
  { weight: 4, arbitrary: mutatedEvent.map(stringify) },
  {
    weight: 2,
    arbitrary: fc.array(fc.oneof(validEvent, mutatedEvent), { maxLength: 8 }).map(stringify),
  },
  { weight: 2, arbitrary: fc.string() },
  {
    weight: 2,
    arbitrary: validEvent.chain((e) =>
      fc.nat(stringify(e).length).map((n) => stringify(e).slice(0, n)),
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue().map(stringify) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 50_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  },
  { weight: 1, arbitrary: fc.constant('x'.repeat(300 * 1024)) },
);

describe('POST /v1/events under fuzzing', () => {
  it('answers only documented statuses, never 500, and writes iff 202', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.record({ body: bodies, contentType: contentTypes, auth, kafka }),
        async (attempt) => {
          const result = await send(attempt);
          seen.set(result.res.statusCode, (seen.get(result.res.statusCode) ?? 0) + 1);
          check(result);
        },
      ),
      { numRuns: 400 },
    );
    // The generators must reach the interesting answers, or the property proves little.
    for (const status of [202, 400, 401, 403, 413, 415, 422, 503]) {
      expect([status, (seen.get(status) ?? 0) > 0]).toEqual([status, true]);
    }
  }, 60_000);

  it('accepts every valid event and batch while Kafka is up', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(validEvent, validBatch), async (body) => {
        const { res, written } = await send({
          body: stringify(body),
          contentType: 'application/json',
          auth: 'writer',
          kafka: 'ack',
        });
        expect(res.statusCode).toBe(202);
        expect(written).toBe(Array.isArray(body) ? body.length : 1);
      }),
      { numRuns: 100 },
    );
  }, 60_000);

  it('never pollutes Object.prototype', () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
