/**
 * Requests to POST /v1/events built by the official CloudEvents JavaScript SDK (`cloudevents` 10.x),
 * as an integrating team would write them, in each content mode of the HTTP protocol binding:
 * binary (`HTTP.binary`, the SDK emitter's default), structured (`HTTP.structured`) and batch (the
 * SDK's own JSON form of each event in an array, with its batch media type; the SDK has no batch
 * serializer).
 */
import { CloudEvent, CONSTANTS, HTTP } from 'cloudevents';
import { EVENT_TYPES, type EventType } from '../../src/contracts/events';

export type ContentMode = 'binary' | 'structured' | 'batch';
export const CONTENT_MODES: readonly ContentMode[] = ['binary', 'structured', 'batch'];

export interface SdkRequest {
  headers: Record<string, string>;
  /** undefined: no body (binary mode, an event without data). */
  body: string | undefined;
}

/** A representative `data` for each event type, with optional fields and non-ASCII text. */
export const SAMPLE_DATA: Record<EventType, Record<string, unknown> | undefined> = {
  'incident.reported': {
    severity: 'II',
    title: 'Core switch down',
    site: '长葛 data centre',
    customer: 'Acme',
    serviceKind: 'installation',
  },
  'incident.acknowledged': { by: '李工' },
  'incident.dispatched': {
    engineers: ['Wang', 'Zhao'],
    persons: 3,
    days: 2,
    travelCost: { amount: 120000, currency: 'CNY' },
  },
  'incident.arrived': { engineer: 'Wang', travelCost: { amount: 35050, currency: 'CNY' } },
  'incident.diagnosed': { cause: 'PSU failure\nsecond line' },
  'incident.solution_provided': { kind: 'workaround', detail: 'traffic moved to the spare' },
  'incident.spare_parts_provided': {
    parts: ['PSU-750W'],
    materialCost: { amount: 89900, currency: 'CNY' },
    transportCost: { amount: 1500, currency: 'CNY' },
  },
  'incident.assigned': { assignee: 'Chen', tier: 2 },
  'incident.escalated': { toTier: 3, reason: 'vendor needed' },
  'incident.severity_changed': { severity: 'I', reason: 'more sites affected' },
  'incident.paused': { reason: 'waiting for customer access' },
  'incident.resumed': { reason: 'access granted' },
  // No data at all: binary mode then sends no body.
  'incident.resolved': undefined,
  'incident.closed': { confirmedBy: 'customer desk' },
  'incident.reopened': { reason: 'fault came back' },
  'incident.cancelled': { reason: 'duplicate' },
  'incident.followed_up': { channel: 'phone', satisfaction: 5, note: '客户满意' },
  'incident.cost_recorded': { kind: 'other', amount: 5000, currency: 'EUR', note: '过路费 tolls' },
  'inspection.completed': {
    site: '长葛 data centre',
    inspectionId: 'changge:2026-Q4',
    reportRef: 'RPT-7',
  },
};

/** One SDK event of every type for `subject`, ids `${idPrefix}-0`, `-1`…, `time` at `at` (epoch ms). */
export function sdkEventsOfEveryType(
  subject: string,
  idPrefix: string,
  at: number,
): CloudEvent<unknown>[] {
  return EVENT_TYPES.map(
    (type, i) =>
      new CloudEvent<unknown>({
        specversion: '1.0',
        id: `${idPrefix}-${i}`,
        source: '/servicedesk',
        type,
        subject,
        // An offset other than Z: the SDK writes every mode's time as UTC (toISOString).
        time: new Date(at + i * 1000).toISOString().replace('Z', '+00:00'),
        data: SAMPLE_DATA[type],
      }),
  );
}

/** The request(s) carrying `events` in `mode`: one per event, or one batch. */
export function sdkRequests(mode: ContentMode, events: CloudEvent<unknown>[]): SdkRequest[] {
  switch (mode) {
    case 'binary':
      return events.map((e) => toRequest(HTTP.binary(e)));
    case 'structured':
      return events.map((e) => toRequest(HTTP.structured(e)));
    case 'batch':
      return [
        {
          headers: { 'content-type': `${CONSTANTS.MIME_CE_BATCH}; charset=utf-8` },
          body: JSON.stringify(events),
        },
      ];
  }
}

/** An SDK `Message` as plain headers and body text. */
export function toRequest(message: {
  headers: Record<string, unknown>;
  body: unknown;
}): SdkRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers)) headers[name] = String(value);
  const body = message.body;
  return {
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  };
}
