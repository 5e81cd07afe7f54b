import type { CloudEvent } from '../../../src/contracts/events';
import { buildTestApi, NOW, reportedEvent, type TestApi } from './app';

function post(api: TestApi, body: unknown, headers: Record<string, string> = {}) {
  return api.app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { authorization: api.auth.writer, 'content-type': 'application/json', ...headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('POST /v1/events', () => {
  let api: TestApi;
  beforeEach(async () => {
    api = await buildTestApi();
  });
  afterEach(async () => {
    await api.app.close();
  });

  describe('202: written to Kafka, then answered', () => {
    it('one event: keyed by subject, the validated event as value, structured content type', async () => {
      const res = await post(api, reportedEvent());
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ accepted: 1, ids: ['evt-1'] });
      expect(api.publisher.published).toHaveLength(1);
      const [{ topic, record }] = api.publisher.published as [(typeof api.publisher.published)[0]];
      expect(topic).toBe('incident.events');
      expect(record.key).toBe('INC-2026-000123');
      expect(record.headers).toEqual({
        'content-type': 'application/cloudevents+json',
        // SPEC §3 "Effective time": the acceptance instant rides with the event (the test clock).
        'sla-accepted-at': String(NOW),
      });
      expect(JSON.parse(record.value as string)).toEqual(reportedEvent());
    });

    it.each([
      'application/json',
      'application/cloudevents+json',
      'application/cloudevents+json; charset=utf-8',
    ])('accepts a single event as %s', async (contentType) => {
      expect((await post(api, reportedEvent(), { 'content-type': contentType })).statusCode).toBe(
        202,
      );
    });

    it.each(['application/json', 'application/cloudevents-batch+json'])(
      'accepts a batch as %s, in one publish, in order',
      async (contentType) => {
        const batch = [
          reportedEvent({ id: 'a' }),
          reportedEvent({ id: 'b', type: 'incident.acknowledged', data: { by: 'Li' } }),
          reportedEvent({ id: 'c', subject: 'INC-2', type: 'incident.resolved', data: undefined }),
        ];
        const res = await post(api, batch, { 'content-type': contentType });
        expect(res.statusCode).toBe(202);
        expect(res.json()).toEqual({ accepted: 3, ids: ['a', 'b', 'c'] });
        expect(api.publisher.calls).toBe(1);
        expect(api.publisher.published.map((p) => p.record.key)).toEqual([
          'INC-2026-000123',
          'INC-2026-000123',
          'INC-2',
        ]);
        // A missing `data` is written as {}: every record has one shape.
        const last = JSON.parse(api.publisher.published[2]!.record.value as string) as CloudEvent;
        expect(last.data).toEqual({});
      },
    );

    it('is idempotent for the caller: the same event again answers 202 again (the projector dedupes)', async () => {
      expect((await post(api, reportedEvent())).statusCode).toBe(202);
      expect((await post(api, reportedEvent())).statusCode).toBe(202);
      expect(api.publisher.published.map((p) => p.record.value)).toEqual([
        api.publisher.published[0]!.record.value,
        api.publisher.published[0]!.record.value,
      ]);
    });

    it('accepts identical repeats inside one batch', async () => {
      expect((await post(api, [reportedEvent(), reportedEvent()])).statusCode).toBe(202);
    });
  });

  describe('400: malformed or invalid, naming each field', () => {
    it('names the field of a single event', async () => {
      const res = await post(api, reportedEvent({ data: { severity: 'V', title: 'x' } }));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        status: 400,
        code: 'invalid',
        message: 'data.severity: must be one of "I", "II", "III", "IV"',
        details: [{ path: 'data.severity', message: 'must be one of "I", "II", "III", "IV"' }],
      });
      expect(api.publisher.calls).toBe(0);
    });

    it('rejects a whole batch for one bad item, naming every bad index and field', async () => {
      const res = await post(api, [
        reportedEvent({ id: 'ok' }),
        reportedEvent({ id: 'bad one' }),
        reportedEvent({ time: '2026-13-01T00:00:00Z' }),
        reportedEvent({ extra: true }),
      ]);
      expect(res.statusCode).toBe(400);
      expect(res.json().details).toEqual([
        { path: '[1].id', message: expect.stringContaining('letters, digits') },
        { path: '[2].time', message: expect.stringContaining('RFC 3339') },
        { path: '[3].extra', message: 'unknown field' },
      ]);
      expect(res.json().message).toMatch(
        /^\[1\]\.id: .*; \[2\]\.time: .*; \[3\]\.extra: unknown field$/,
      );
      expect(api.publisher.calls).toBe(0);
    });

    it('caps the details of a huge broken batch and says how many more', async () => {
      const res = await post(
        api,
        Array.from({ length: 300 }, () => ({})),
      );
      expect(res.statusCode).toBe(400);
      expect(res.json().details).toHaveLength(100);
      expect(res.json().message).toMatch(/\(and \d+ more\)$/);
    });

    it.each([
      ['broken JSON', '{"id": ', /not valid JSON/],
      ['an empty body', '', /empty/],
      ['an empty batch', '[]', /at least one event/],
      ['a JSON string', '"hello"', /expected object/],
      ['null', 'null', /expected object/],
      [
        'a __proto__ key',
        '{"__proto__": {"admin": true}, "specversion": "1.0"}',
        /type: must be one of/,
      ],
    ])('400 for %s', async (_name, body, message) => {
      const res = await post(api, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(message);
      expect(res.json().details[0].path).toBeDefined();
    });

    it('reports __proto__ as an unknown field and never lets it through', async () => {
      const body = JSON.stringify(reportedEvent()).replace('{', '{"__proto__": {"x": 1},');
      const res = await post(api, body);
      expect(res.statusCode).toBe(400);
      expect(res.json().details).toEqual([{ path: '__proto__', message: 'unknown field' }]);
    });

    it('400 when the media type and the body shape disagree', async () => {
      const single = await post(api, [reportedEvent()], {
        'content-type': 'application/cloudevents+json',
      });
      expect(single.statusCode).toBe(400);
      expect(single.json().message).toContain('send arrays as application/cloudevents-batch+json');
      const batch = await post(api, reportedEvent(), {
        'content-type': 'application/cloudevents-batch+json',
      });
      expect(batch.statusCode).toBe(400);
      expect(batch.json().message).toContain('must be a JSON array');
    });

    it('400 without a body', async () => {
      const res = await api.app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { authorization: api.auth.writer },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json().details).toEqual([
        { path: '(body)', message: 'is required: one event, or an array of events' },
      ]);
    });
  });

  describe('401 / 403', () => {
    it('401 without a key or with an unknown one; nothing written', async () => {
      expect((await post(api, reportedEvent(), { authorization: '' })).statusCode).toBe(401);
      expect(
        (await post(api, reportedEvent(), { authorization: 'Bearer sla_x_y' })).statusCode,
      ).toBe(401);
      expect(api.publisher.calls).toBe(0);
    });

    it('403 for a key without events:write, before the body is even parsed', async () => {
      const res = await post(api, '{not json', { authorization: api.auth.reader });
      expect(res.statusCode).toBe(403);
      expect(res.json().message).toContain('events:write');
      expect(api.publisher.calls).toBe(0);
    });
  });

  describe('413 / 415', () => {
    it('413 for a body over INGEST_BODY_LIMIT_BYTES', async () => {
      await api.app.close();
      api = await buildTestApi({ INGEST_BODY_LIMIT_BYTES: '2048' });
      const res = await post(api, JSON.stringify(reportedEvent()).padEnd(4096, ' '));
      expect(res.statusCode).toBe(413);
      expect(api.publisher.calls).toBe(0);
    });

    it('413 for a batch over INGEST_MAX_BATCH events', async () => {
      await api.app.close();
      api = await buildTestApi({ INGEST_MAX_BATCH: '3' });
      const res = await post(
        api,
        Array.from({ length: 4 }, (_, i) => reportedEvent({ id: `e${i}` })),
      );
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({
        code: 'batch_too_large',
        message: expect.stringContaining('at most 3'),
      });
      expect(
        (
          await post(
            api,
            Array.from({ length: 3 }, (_, i) => reportedEvent({ id: `e${i}` })),
          )
        ).statusCode,
      ).toBe(202);
    });

    it.each([
      'text/plain',
      'application/xml',
      'application/jsonx',
      'multipart/form-data; boundary=x',
    ])('415 for %s', async (contentType) => {
      const res = await post(api, reportedEvent(), { 'content-type': contentType });
      expect(res.statusCode).toBe(415);
      expect(res.json().message).toContain('application/cloudevents+json');
    });
  });

  describe('422: well-formed but impossible', () => {
    it('refuses `time` more than 5 minutes in the future, accepts up to 5 minutes', async () => {
      const late = await post(api, reportedEvent({ time: iso(NOW + 5 * 60_000 + 1000) }));
      expect(late.statusCode).toBe(422);
      expect(late.json()).toMatchObject({
        code: 'unprocessable',
        details: [{ path: 'time', message: 'is more than 5 minutes in the future' }],
      });
      expect((await post(api, reportedEvent({ time: iso(NOW + 5 * 60_000) }))).statusCode).toBe(
        202,
      );
    });

    it('refuses events older than INGEST_MAX_EVENT_AGE_MS (30 days by default), naming the index', async () => {
      const day = 24 * 3600_000;
      const res = await post(api, [
        reportedEvent({ id: 'a', time: iso(NOW - 29 * day) }),
        reportedEvent({ id: 'b', time: iso(NOW - 31 * day) }),
      ]);
      expect(res.statusCode).toBe(422);
      expect(res.json().details).toEqual([
        { path: '[1].time', message: 'is older than the accepted bound of 30 days' },
      ]);
      expect(api.publisher.calls).toBe(0);
    });

    it('refuses one batch holding two different events under one source and id', async () => {
      const res = await post(api, [
        reportedEvent(),
        reportedEvent({ data: { severity: 'II', title: 'other' } }),
      ]);
      expect(res.statusCode).toBe(422);
      expect(res.json().details).toEqual([
        { path: '[1].id', message: 'repeats the source and id of item 0 with a different payload' },
      ]);
    });
  });

  describe('429', () => {
    it('limits requests per API key, with Retry-After; other keys are unaffected', async () => {
      await api.app.close();
      api = await buildTestApi({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' });
      expect((await post(api, reportedEvent())).statusCode).toBe(202);
      expect((await post(api, reportedEvent())).statusCode).toBe(202);
      const limited = await post(api, reportedEvent());
      expect(limited.statusCode).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      expect(limited.json()).toMatchObject({ status: 429, code: 'rate_limited' });
      expect(api.publisher.calls).toBe(2);
      expect((await post(api, reportedEvent(), { authorization: api.auth.all })).statusCode).toBe(
        202,
      );
      // Health probes are never rate limited.
      expect((await api.app.inject('/healthz')).statusCode).toBe(200);
    });
  });

  describe('503: Kafka unavailable', () => {
    it('503 with Retry-After when the publisher fails', async () => {
      api.publisher.mode = 'down';
      const res = await post(api, reportedEvent());
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(res.json()).toEqual({
        status: 503,
        code: 'kafka_unavailable',
        message: 'kafka is unavailable; retry later',
      });
    });

    it('503 within INGEST_PUBLISH_TIMEOUT_MS when Kafka never answers', async () => {
      await api.app.close();
      api = await buildTestApi({ INGEST_PUBLISH_TIMEOUT_MS: '200' });
      api.publisher.mode = 'hang';
      const started = Date.now();
      const res = await post(api, reportedEvent());
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });

  it('counts outcomes in the metrics', async () => {
    await post(api, reportedEvent());
    await post(api, [reportedEvent({ id: 'x', time: 'bad' }), reportedEvent()]);
    const text = (await api.app.inject('/metrics')).body;
    expect(text).toContain('sla_ingest_events_total{outcome="accepted"} 1');
    expect(text).toContain('sla_ingest_events_total{outcome="invalid"} 2');
  });
});
