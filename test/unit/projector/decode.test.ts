/** What the projector accepts from the topic, and what goes to the dead-letter topic with which headers. */
import { eventDigest, parseEvent } from '../../../src/contracts/events';
import { decodeRecord } from '../../../src/projector/decode';
import { DLQ_HEADERS, toDlqRecord } from '../../../src/projector/dlq';
import type { ConsumedRecord } from '../../../src/infra/kafka-consumer';

const valid = {
  specversion: '1.0',
  id: 'e-1',
  source: '/desk',
  type: 'incident.reported',
  subject: 'INC-9',
  time: '2026-11-24T10:00:00+08:00',
  data: { severity: 'I', title: 'Core switch down' },
};

const record = (value: string | Buffer | null, offset = '7'): ConsumedRecord => ({
  offset,
  key: Buffer.from('INC-9'),
  value: typeof value === 'string' ? Buffer.from(value) : value,
  headers: { 'content-type': 'application/cloudevents+json' },
  // The producer's send time: an hour after the event's `time`.
  timestamp: Date.parse(valid.time) + 3_600_000,
});

test('a valid record becomes a domain event with its digest', () => {
  const d = decodeRecord(record(JSON.stringify(valid)), 10_000);
  expect(d.kind).toBe('event');
  if (d.kind !== 'event') return;
  expect(d.offset).toBe(7n);
  expect(d.event).toMatchObject({
    id: 'e-1',
    source: '/desk',
    incidentId: 'INC-9',
    at: Date.parse(valid.time),
  });
  const parsed = parseEvent(valid);
  expect(parsed.ok && d.digest === eventDigest(parsed.value)).toBe(true);
});

test('an inspection.completed is decoded apart, at its effective time (not an incident event)', () => {
  const completed = {
    ...valid,
    type: 'inspection.completed',
    subject: 'cg:2026-Q4',
    data: { site: '长葛 data centre', inspectionId: 'cg:2026-Q4', reportRef: 'RPT-7' },
  };
  const r = record(JSON.stringify(completed));
  const accepted = Date.parse(valid.time) - 60_000;
  const d = decodeRecord({ ...r, headers: { 'sla-accepted-at': String(accepted) } }, 10_000);
  expect(d).toEqual({
    kind: 'inspection',
    offset: 7n,
    source: '/desk',
    eventId: 'e-1',
    inspectionId: 'cg:2026-Q4',
    site: '长葛 data centre',
    reportRef: 'RPT-7',
    time: Date.parse(valid.time),
    completedAt: accepted,
  });
});

describe('effective time (SPEC §3): the earlier of `time` and the acceptance time', () => {
  const time = Date.parse(valid.time);
  const decode = (headers: Record<string, string>, timestamp: number) => {
    const r = { ...record(JSON.stringify(valid)), headers, timestamp };
    const d = decodeRecord(r, 10_000);
    if (d.kind !== 'event') throw new Error('not an event');
    return { at: d.event.at, time: d.time, acceptedAt: d.acceptedAt };
  };

  test('a time ahead of the acceptance header takes effect when accepted; the time is kept', () => {
    expect(decode({ 'sla-accepted-at': String(time - 45_000) }, time + 9_000)).toEqual({
      at: time - 45_000,
      time,
      acceptedAt: time - 45_000,
    });
  });

  test('a time in the past takes effect at its time', () => {
    expect(decode({ 'sla-accepted-at': String(time + 5_000) }, time + 9_000).at).toBe(time);
  });

  test('without the header: the record timestamp; without a usable one either: the time', () => {
    expect(decode({}, time - 30_000)).toMatchObject({
      at: time - 30_000,
      acceptedAt: time - 30_000,
    });
    expect(decode({ 'sla-accepted-at': 'soon' }, time - 30_000).at).toBe(time - 30_000);
    expect(decode({}, -1)).toMatchObject({ at: time, acceptedAt: time });
  });
});

test.each([
  ['empty', null],
  ['not_json', '{"specversion": '],
  ['unknown_type', JSON.stringify({ ...valid, type: 'incident.teleported' })],
  ['invalid_event', JSON.stringify({ ...valid, data: { severity: 'V', title: 'x' } })],
  ['invalid_event', JSON.stringify([valid])],
  ['too_large', JSON.stringify({ ...valid, data: { ...valid.data, title: 'x'.repeat(400) } })],
])('%s', (reason, value) => {
  const d = decodeRecord(record(value), 300);
  expect(d).toMatchObject({ kind: 'poison', reason });
});

test('dead-letter records keep key, value and headers and say why and where from', () => {
  const d = decodeRecord(record('nope', '42'), 1000);
  if (d.kind !== 'poison') throw new Error('expected poison');
  const out = toDlqRecord(d, { topic: 'incident.events', partition: 3, groupId: 'g' });
  expect(out.key).toBe('INC-9');
  expect(out.value.toString()).toBe('nope');
  expect(out.headers).toMatchObject({
    'content-type': 'application/cloudevents+json',
    [DLQ_HEADERS.error]: 'not_json',
    [DLQ_HEADERS.topic]: 'incident.events',
    [DLQ_HEADERS.partition]: '3',
    [DLQ_HEADERS.offset]: '42',
    [DLQ_HEADERS.group]: 'g',
  });
  expect(out.headers?.[DLQ_HEADERS.message]).toContain('not JSON');
});
