import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  EVENT_TYPES,
  canonicalJson,
  decodeEventRecord,
  eventDigest,
  parseEvent,
  parseEvents,
  toDomainEvent,
  toEventRecord,
  type CloudEvent,
} from '../../../src/contracts/events';

const reported = {
  specversion: '1.0',
  id: '4f7c8a1e-0001',
  source: '/servicedesk',
  type: 'incident.reported',
  subject: 'INC-2026-000123',
  time: '2026-11-24T10:00:00+08:00',
  data: { severity: 'I', title: 'Core switch down', site: '长葛 data centre' },
};

function valid(json: unknown): CloudEvent {
  const r = parseEvent(json);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.value;
}

function issues(json: unknown) {
  const r = parseEvent(json);
  if (r.ok) throw new Error('expected issues');
  return r.issues;
}

describe('parseEvent', () => {
  it('accepts the SPEC §3 example', () => {
    expect(valid(reported)).toMatchObject({
      type: 'incident.reported',
      subject: 'INC-2026-000123',
    });
  });

  it.each([
    ['incident.acknowledged', {}],
    ['incident.acknowledged', { by: 'Li Lei' }],
    ['incident.dispatched', { engineers: ['a', 'b'] }],
    ['incident.arrived', { engineer: 'a' }],
    ['incident.diagnosed', { cause: 'fan\nfailure' }],
    ['incident.solution_provided', { kind: 'workaround', detail: 'reboot' }],
    ['incident.spare_parts_provided', { parts: ['PSU'] }],
    ['incident.assigned', { assignee: 'zhang', tier: 2 }],
    ['incident.escalated', { toTier: 3, reason: 'vendor needed' }],
    ['incident.severity_changed', { severity: 'II', reason: 'scope smaller' }],
    ['incident.paused', { reason: 'waiting for access' }],
    ['incident.resumed', { reason: 'access granted' }],
    ['incident.resolved', { resolution: 'replaced' }],
    ['incident.closed', { confirmedBy: 'customer' }],
    ['incident.reopened', { reason: 'again' }],
    ['incident.cancelled', { reason: 'duplicate' }],
    ['incident.followed_up', { channel: 'phone' }],
    ['incident.followed_up', { channel: 'form', satisfaction: 4, note: '满意\nthanks' }],
    ['incident.cost_recorded', { kind: 'transport', amount: 12050, currency: 'CNY' }],
    ['incident.cost_recorded', { kind: 'other', amount: -500, currency: 'JPY', note: 'refund' }],
    ['incident.reported', { severity: 'IV', title: 'Rack install', serviceKind: 'installation' }],
    [
      'incident.dispatched',
      {
        engineers: ['a'],
        persons: 2,
        days: 3,
        travelCost: { amount: 60000, currency: 'CNY' },
      },
    ],
    ['incident.arrived', { travelCost: { amount: 0, currency: 'EUR' } }],
    [
      'incident.spare_parts_provided',
      {
        materialCost: { amount: 89900, currency: 'CNY' },
        transportCost: { amount: 0, currency: 'CNY' },
      },
    ],
    ['inspection.completed', { site: '长葛 data centre', inspectionId: 'cg:2026-Q4' }],
    ['inspection.completed', { site: 'HQ', inspectionId: 'cg:cny', reportRef: 'RPT 7' }],
  ])('accepts %s %j', (type, data) => {
    expect(valid({ ...reported, type, data }).data).toEqual(data);
  });

  it('covers every event type in the tests above or the example', () => {
    expect(EVENT_TYPES).toHaveLength(19);
  });

  it.each([
    [
      'incident.cost_recorded',
      { kind: 'fuel', amount: 1, currency: 'CNY' },
      'data.kind',
      'must be one of "installation", "dispatch", "material", "transport", "other"',
    ],
    [
      'incident.cost_recorded',
      { kind: 'material', amount: 12.5, currency: 'CNY' },
      'data.amount',
      'must be an integer number of minor units (e.g. fen), not a decimal',
    ],
    [
      'incident.cost_recorded',
      { kind: 'material', amount: 1, currency: 'cny' },
      'data.currency',
      'must be an ISO 4217 code of three capital letters, e.g. CNY',
    ],
    [
      'incident.cost_recorded',
      { kind: 'material', amount: 1, currency: 'ABC' },
      'data.currency',
      'must be an ISO 4217 currency code in use, e.g. CNY',
    ],
    [
      'incident.cost_recorded',
      { kind: 'material', amount: 1e13, currency: 'CNY' },
      'data.amount',
      'must be at most 1000000000000',
    ],
    ['incident.cost_recorded', { kind: 'material', amount: 1 }, 'data.currency', 'is required'],
    [
      'incident.arrived',
      { travelCost: { amount: -1, currency: 'CNY' } },
      'data.travelCost.amount',
      'must be at least 0',
    ],
    [
      'incident.spare_parts_provided',
      { materialCost: { amount: 1, currency: 'CNY', vat: 1 } },
      'data.materialCost.vat',
      'unknown field',
    ],
    ['incident.dispatched', { persons: 0 }, 'data.persons', 'must be at least 1'],
    ['incident.dispatched', { days: 1.5 }, 'data.days', 'must be a whole number'],
    [
      'incident.dispatched',
      { engineers: ['a', 'b', 'c'], persons: 2 },
      'data.persons',
      'must be at least the number of engineers named',
    ],
    [
      'incident.reported',
      { severity: 'I', title: 't', serviceKind: 'warranty' },
      'data.serviceKind',
      'must be one of "after_sales", "installation"',
    ],
  ])('refuses %s %j at %s', (type, data, path, message) => {
    expect(issues({ ...reported, type, data })).toEqual([{ path, message }]);
  });

  it('normalises a missing data to {} where nothing is required', () => {
    const { data: _d, ...noData } = reported;
    expect(valid({ ...noData, type: 'incident.resolved' }).data).toEqual({});
    expect(issues({ ...noData, type: 'incident.paused' })).toEqual([
      { path: 'data', message: 'is required' },
    ]);
  });

  it('accepts Z and fractional seconds, datacontenttype application/json', () => {
    valid({ ...reported, time: '2026-11-24T02:00:00.123Z', datacontenttype: 'application/json' });
  });

  it('rejects unknown fields at every level, naming them', () => {
    expect(issues({ ...reported, extra: 1, data: { ...reported.data, colour: 'red' } })).toEqual(
      expect.arrayContaining([
        { path: 'extra', message: 'unknown field' },
        { path: 'data.colour', message: 'unknown field' },
      ]),
    );
  });

  it('drops known CloudEvents extension attributes (tracing, partitioning) but no other unknown one', () => {
    const traced = {
      ...reported,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=1',
      partitionkey: 'INC-1',
    };
    expect(valid(traced)).toEqual(valid(reported));
    expect(issues({ ...traced, traceid: 'x' })).toEqual([
      { path: 'traceid', message: 'unknown field' },
    ]);
    expect(parseEvents([traced, { ...reported, subjet: 'x' }])).toMatchObject({
      ok: false,
      issues: [{ path: '[1].subjet', message: 'unknown field' }],
    });
  });

  it.each([
    ['time', '2026-11-24T10:00:00', 'offset'],
    ['time', '2026-02-30T10:00:00Z', 'RFC 3339'],
    ['time', '2026-11-24 10:00:00Z', 'RFC 3339'],
    ['time', 12345, 'RFC 3339'],
    ['id', 'a/b', 'letters'],
    ['id', 'x'.repeat(129), 'at most 128'],
    ['id', '', 'empty'],
    ['subject', 'INC 1', 'letters'],
    ['source', 'https://x/?q=1', 'URI reference'],
    ['specversion', '0.3', '"1.0"'],
    ['type', 'incident.exploded', 'must be one of'],
    ['datacontenttype', 'text/plain', 'application/json'],
  ])('rejects %s = %j', (field, value, message) => {
    const found = issues({ ...reported, [field]: value });
    expect(found).toHaveLength(1);
    expect(found[0]!.path).toBe(field);
    expect(found[0]!.message).toContain(message);
  });

  it.each([
    [{ severity: 'V', title: 't' }, 'data.severity'],
    [{ severity: 'I' }, 'data.title'],
    [{ severity: 'I', title: 'x'.repeat(501) }, 'data.title'],
    [{ severity: 'I', title: 'nul\u0000' }, 'data.title'],
    [{ severity: 'I', title: 'two\nlines' }, 'data.title'],
    [{ severity: 'I', title: 'lone \ud800' }, 'data.title'],
    [{ severity: 'I', title: 't', policyId: 'a b' }, 'data.policyId'],
  ])('rejects reported data %j at %s', (data, path) => {
    expect(issues({ ...reported, data }).map((i) => i.path)).toEqual([path]);
  });

  it.each([
    [{}, 'data.channel', 'must be one of "phone", "visit", "form"'],
    [{ channel: 'email' }, 'data.channel', 'must be one of "phone", "visit", "form"'],
    [{ channel: 'phone', satisfaction: 0 }, 'data.satisfaction', 'must be one of 1, 2, 3, 4, 5'],
    [{ channel: 'phone', satisfaction: 4.5 }, 'data.satisfaction', 'must be one of 1, 2, 3, 4, 5'],
    [{ channel: 'phone', satisfaction: '5' }, 'data.satisfaction', 'must be one of 1, 2, 3, 4, 5'],
    [{ channel: 'visit', note: '' }, 'data.note', 'must not be empty'],
  ])('rejects followed_up data %j at %s: %s', (data, path, message) => {
    expect(issues({ ...reported, type: 'incident.followed_up', data })).toEqual([
      { path, message },
    ]);
  });

  it('bounds lists', () => {
    const engineers = Array.from({ length: 51 }, (_, i) => `e${i}`);
    expect(issues({ ...reported, type: 'incident.dispatched', data: { engineers } })).toEqual([
      { path: 'data.engineers', message: 'must have at most 50 items' },
    ]);
    expect(
      issues({ ...reported, type: 'incident.dispatched', data: { engineers: ['ok', 7] } }),
    ).toEqual([{ path: 'data.engineers[1]', message: 'expected string, received number' }]);
  });

  it('rejects tiers outside 1–3 and non-objects', () => {
    expect(
      issues({ ...reported, type: 'incident.escalated', data: { toTier: 4, reason: 'r' } }),
    ).toEqual([{ path: 'data.toTier', message: 'must be one of 1, 2, 3' }]);
    expect(issues([reported])).toEqual([
      { path: '(body)', message: 'expected object, received array' },
    ]);
    expect(issues(null)[0]!.path).toBe('(body)');
  });
});

describe('parseEvents', () => {
  it('accepts a whole valid batch', () => {
    const r = parseEvents([reported, { ...reported, id: 'b' }]);
    expect(r.ok && r.value.map((e) => e.id)).toEqual(['4f7c8a1e-0001', 'b']);
  });

  it('rejects the whole batch, naming each bad index and field', () => {
    const r = parseEvents([
      reported,
      { ...reported, time: 'yesterday' },
      reported,
      { ...reported, subject: '' },
    ]);
    expect(r).toEqual({
      ok: false,
      issues: [
        { path: '[1].time', message: expect.stringContaining('RFC 3339') },
        { path: '[3].subject', message: 'must not be empty' },
      ],
    });
  });
});

describe('eventDigest', () => {
  const event = valid(reported);

  it('is the same for the same instant spelled differently and for key order', () => {
    const reordered = valid({
      data: { site: reported.data.site, title: reported.data.title, severity: 'I' },
      time: '2026-11-24T02:00:00.000Z',
      subject: reported.subject,
      type: reported.type,
      source: reported.source,
      id: reported.id,
      specversion: '1.0',
      datacontenttype: 'application/json',
    });
    expect(eventDigest(reordered)).toBe(eventDigest(event));
  });

  it('differs when the payload differs', () => {
    const other = valid({ ...reported, data: { ...reported.data, severity: 'II' } });
    expect(eventDigest(other)).not.toBe(eventDigest(event));
    expect(eventDigest(event)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('canonicalJson sorts keys at every level', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
  });

  it('keeps the digests already stored in incident_events valid', () => {
    // Computed by the first version (session 1), which stored all 32 bytes; migrations/0019 keeps
    // their first 16, this value. A changed canonical form would turn every redelivery of an old
    // event into a "conflict".
    expect(eventDigest(event)).toBe(
      '73480ab0877e2f2982988caf21588877dd99f5237de18392a3fbd1b72e8df73c'.slice(0, 32),
    );
    // The first version's canonical form, as its specification, against any JSON value.
    const reference = (value: unknown): string => {
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      if (value !== null && typeof value === 'object') {
        const entries = Object.entries(value as Record<string, unknown>)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
      }
      return JSON.stringify(value);
    };
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500 },
    );
    // The digest is the SHA-256 of that form of the event, without datacontenttype, time in ms:
    // its first 16 bytes.
    const definition = (e: CloudEvent) => {
      const { datacontenttype: _ignored, time, ...rest } = e;
      return createHash('sha256')
        .update(reference({ ...rest, time: Date.parse(time) }))
        .digest('hex')
        .slice(0, 32);
    };
    const samples = [
      event,
      valid({ ...reported, type: 'incident.acknowledged', data: undefined }),
      valid({
        ...reported,
        type: 'incident.solution_provided',
        datacontenttype: 'application/json',
        data: { kind: 'workaround', detail: 'reboot "core-1" — é, twice' },
      }),
    ];
    for (const e of samples) expect(eventDigest(e)).toBe(definition(e));
  });
});

describe('Kafka records', () => {
  it('round-trips: key = subject, value = the event, structured content type, acceptance time', () => {
    const event = valid(reported);
    const record = toEventRecord(event, 1795489200123);
    expect(record.key).toBe('INC-2026-000123');
    expect(record.headers).toEqual({
      'content-type': 'application/cloudevents+json',
      'sla-accepted-at': '1795489200123',
    });
    expect(decodeEventRecord(Buffer.from(record.value))).toEqual({ ok: true, value: event });
  });

  it('reports a broken record instead of throwing', () => {
    expect(decodeEventRecord('{nope').ok).toBe(false);
    expect(decodeEventRecord(null).ok).toBe(false);
    expect(decodeEventRecord('{"specversion":"1.0"}').ok).toBe(false);
  });
});

describe('toDomainEvent', () => {
  it('maps subject to incidentId and time to epoch ms', () => {
    expect(toDomainEvent(valid(reported))).toEqual({
      id: '4f7c8a1e-0001',
      source: '/servicedesk',
      type: 'incident.reported',
      incidentId: 'INC-2026-000123',
      at: Date.UTC(2026, 10, 24, 2, 0, 0),
      data: reported.data,
    });
  });
});
