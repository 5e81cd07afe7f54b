/**
 * POST /v1/events in the three content modes of the CloudEvents HTTP binding, with requests built by
 * the official SDK: the same records, the same validation, the same idempotency whichever mode.
 * (test/integration/ingest-modes.test.ts does the same against the real broker.)
 */
import { CloudEvent, HTTP } from 'cloudevents';
import { EVENT_TYPES } from '../../../src/contracts/events';
import {
  CONTENT_MODES,
  sdkEventsOfEveryType,
  sdkRequests,
  type ContentMode,
  toRequest,
  type SdkRequest,
} from '../../helpers/cloudevents-sdk';
import { buildTestApi, NOW, type TestApi } from './app';

let api: TestApi;
beforeEach(async () => {
  api = await buildTestApi();
});
afterEach(async () => {
  await api.app.close();
});

function send(request: SdkRequest, extra: Record<string, string> = {}) {
  return api.app.inject({
    method: 'POST',
    url: '/v1/events',
    headers: { ...request.headers, authorization: api.auth.writer, ...extra },
    ...(request.body === undefined ? {} : { payload: request.body }),
  });
}

/** The binary request of one valid reported event, to break one header at a time. */
function binaryReported(): SdkRequest {
  const [event] = sdkRequests('binary', sdkEventsOfEveryType('INC-B-1', 'b', NOW - 60_000));
  return event!;
}

const recorded = () => api.publisher.published.map((p) => p.record);

describe('every event type, every content mode (SDK-built requests)', () => {
  it.each(CONTENT_MODES)('%s: 202 for all 16 types', async (mode) => {
    const events = sdkEventsOfEveryType('INC-MODES-1', mode, NOW - 60_000);
    for (const request of sdkRequests(mode, events)) {
      const res = await send(request);
      expect({ status: res.statusCode, body: res.json<unknown>() }).toMatchObject({
        status: 202,
      });
    }
    expect(recorded().map((r) => (JSON.parse(r.value as string) as { type: string }).type)).toEqual(
      EVENT_TYPES,
    );
  });

  it('writes byte-identical records (key, value, headers) whichever mode carried the events', async () => {
    const byMode = new Map<ContentMode, unknown[]>();
    for (const mode of CONTENT_MODES) {
      api.publisher.published.length = 0;
      const events = sdkEventsOfEveryType('INC-MODES-2', 'same', NOW - 60_000);
      for (const request of sdkRequests(mode, events))
        expect((await send(request)).statusCode).toBe(202);
      byMode.set(mode, recorded());
    }
    const binary = byMode.get('binary')!;
    expect(binary).toHaveLength(EVENT_TYPES.length);
    expect(byMode.get('structured')).toEqual(binary);
    expect(byMode.get('batch')).toEqual(binary);
    // And the record is the event as the SDK described it.
    const first = JSON.parse((binary[0] as { value: string }).value) as Record<string, unknown>;
    expect(first).toEqual({
      specversion: '1.0',
      id: 'same-0',
      source: '/servicedesk',
      type: 'incident.reported',
      subject: 'INC-MODES-2',
      time: new Date(NOW - 60_000).toISOString(),
      data: {
        severity: 'II',
        title: 'Core switch down',
        site: '长葛 data centre',
        customer: 'Acme',
        serviceKind: 'installation',
      },
    });
  });

  it('the same event again in another mode is the same record again (idempotent across modes)', async () => {
    const [event] = sdkEventsOfEveryType('INC-MODES-3', 'idem', NOW - 60_000);
    for (const mode of CONTENT_MODES) {
      for (const request of sdkRequests(mode, [event!]))
        expect((await send(request)).statusCode).toBe(202);
    }
    const values = recorded().map((r) => r.value);
    expect(values).toHaveLength(3);
    expect(new Set(values).size).toBe(1);
  });
});

describe('binary mode', () => {
  it.each(['ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-subject', 'ce-time'])(
    '400 naming %s when it is missing',
    async (header) => {
      const request = binaryReported();
      delete request.headers[header];
      const res = await send(request);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'invalid',
        details: [{ path: header, message: 'header is required in binary content mode' }],
      });
      expect(res.json<{ message: string }>().message).toContain(header);
      expect(recorded()).toHaveLength(0);
    },
  );

  it('percent-decodes header values (CloudEvents HTTP binding §3.1.3.2), ce-time included', async () => {
    const request = binaryReported();
    const res = await send(request, {
      'ce-source': '%2Fservice%64esk',
      'ce-subject': 'INC%2DB%2D1',
      'ce-time': encodeURIComponent('2026-11-24T09:59:00+08:00'),
    });
    expect(res.statusCode).toBe(202);
    const value = JSON.parse(recorded()[0]!.value as string) as Record<string, unknown>;
    expect(value).toMatchObject({
      source: '/servicedesk',
      subject: 'INC-B-1',
      time: '2026-11-24T09:59:00+08:00',
    });
    expect(recorded()[0]!.key).toBe('INC-B-1');
  });

  it('400 naming the header for a broken percent-encoding', async () => {
    const res = await send(binaryReported(), { 'ce-subject': 'INC%E4%B8' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      details: [{ path: 'ce-subject', message: expect.stringContaining('percent-encoding') }],
    });
  });

  it('no body is no data: accepted for a type without required data fields', async () => {
    const [request] = sdkRequests('binary', [
      new CloudEvent({
        id: 'nobody',
        source: '/servicedesk',
        type: 'incident.acknowledged',
        subject: 'INC-B-2',
        time: new Date(NOW - 1000).toISOString(),
      }),
    ]);
    expect(request!.body).toBeUndefined();
    expect((await send(request!)).statusCode).toBe(202);
    expect(JSON.parse(recorded()[0]!.value as string)).toMatchObject({ data: {} });
  });

  it('no body for a type whose data is required: 400 on data', async () => {
    const request = { ...binaryReported(), body: undefined };
    const res = await send(request);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ details: [{ path: 'data', message: 'is required' }] });
  });

  it('415 when the data is not JSON', async () => {
    const res = await send(binaryReported(), { 'content-type': 'text/plain' });
    expect(res.statusCode).toBe(415);
    expect(res.json<{ message: string }>().message).toContain('binary content mode');
  });

  it('400 naming the header for an unknown attribute (as structured mode names the field)', async () => {
    const res = await send(binaryReported(), { 'ce-subjet': 'INC-1' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      details: [{ path: 'ce-subjet', message: 'unknown field' }],
    });
  });

  it('accepts tracing and broker extension attributes and records the event without them', async () => {
    const plain = await send(binaryReported());
    expect(plain.statusCode).toBe(202);
    const withExtensions = await send(binaryReported(), {
      'ce-traceparent': '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'ce-knativearrivaltime': '2026-11-24T02:00:00Z',
    });
    expect(withExtensions.statusCode).toBe(202);
    const [first, second] = recorded();
    expect(second).toEqual(first);
  });

  it('400 for body that is not JSON', async () => {
    const res = await send({ ...binaryReported(), body: '{"severity":' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ details: [{ path: '(body)' }] });
  });
});

describe('the same errors in every mode', () => {
  /** Sends one SDK event (built without SDK validation) in `mode`; returns status and details. */
  async function outcome(mode: ContentMode, attributes: Record<string, unknown>) {
    const event = new CloudEvent<unknown>(
      {
        id: 'err-1',
        source: '/servicedesk',
        type: 'incident.reported',
        subject: 'INC-ERR-1',
        time: new Date(NOW - 60_000).toISOString(),
        data: { severity: 'I', title: 'x' },
        ...attributes,
      },
      false,
    );
    const [request] = mode === 'binary' ? [toBinary(event)] : sdkRequests(mode, [event]);
    const res = await send(request!);
    const details = (
      res.json<{ details?: { path: string; message: string }[] }>().details ?? []
    ).map((d) => ({
      // Attribute issues are named as headers in binary mode and as (indexed) fields otherwise.
      path: d.path.replace(/^\[0\]\./, '').replace(/^ce-/, ''),
      message: d.message,
    }));
    return { status: res.statusCode, details };
  }
  function toBinary(event: CloudEvent<unknown>): SdkRequest {
    const request = toRequest(HTTP.binary(event));
    // The SDK rewrites ce-time as UTC; send the attribute as given, to compare like with like.
    request.headers['ce-time'] = String(event.time);
    return request;
  }

  it.each([
    ['a bad data field', { data: { severity: 'V', title: 'x' } }, 400],
    ['an unknown data field', { data: { severity: 'I', title: 'x', colour: 'red' } }, 400],
    ['an unknown type', { type: 'incident.exploded' }, 400],
    ['a subject with a slash', { subject: 'INC/1' }, 400],
    ['`time` an hour ahead', { time: new Date(NOW + 3_600_000).toISOString() }, 422],
    ['`time` 40 days old', { time: new Date(NOW - 40 * 86_400_000).toISOString() }, 422],
  ])('%s', async (_what, attributes, status) => {
    const results = [];
    for (const mode of CONTENT_MODES) results.push(await outcome(mode, attributes));
    expect(results[0]!.status).toBe(status);
    expect(results[0]!.details.length).toBeGreaterThan(0);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    expect(recorded()).toHaveLength(0);
  });
});
