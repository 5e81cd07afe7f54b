import {
  ACCEPTED_AT_HEADER,
  EVENT_TYPES,
  decodeEventRecord,
  eventDigest,
  toDomainEvent,
} from '../contracts/events';
import { effectiveTime, type IncidentEvent } from '../domain';
import type { ConsumedRecord } from '../infra/kafka-consumer';

/**
 * Records of `incident.events` → domain events, or a reason to send them to the DLQ. The same zod
 * schemas the ingest API validates with (src/contracts/events.ts) decide what is valid, so a record
 * that went through the API is never poison; poison comes from other producers.
 */
export type PoisonReason = 'too_large' | 'empty' | 'not_json' | 'unknown_type' | 'invalid_event';

export interface DecodedEvent {
  kind: 'event';
  offset: bigint;
  /** `at` is the effective time (SPEC §3): the earlier of `time` and `acceptedAt`. */
  event: IncidentEvent;
  /** The event's own `time` (epoch ms), as sent: the timeline shows it. */
  time: number;
  /** When the service accepted it (epoch ms): see `acceptedAt` below. */
  acceptedAt: number;
  /** Canonical payload digest: a different payload under a used (source, id) is a conflict. */
  digest: string;
  /** The `data` as validated (normalised: `{}` where the type allows omitting it). */
  data: Record<string, unknown>;
}

export interface PoisonRecord {
  kind: 'poison';
  offset: bigint;
  reason: PoisonReason;
  /** Human-readable detail (field paths and messages); never the record content itself. */
  detail: string;
  record: ConsumedRecord;
}

/** An `inspection.completed` (issue 15 item 5): not about an incident, applied apart. */
export interface DecodedInspection {
  kind: 'inspection';
  offset: bigint;
  source: string;
  eventId: string;
  inspectionId: string;
  site: string;
  reportRef: string | null;
  /** The event's own `time` (epoch ms). */
  time: number;
  /** SPEC §3 effective time: the earlier of `time` and the acceptance. */
  completedAt: number;
}

export type Decoded = DecodedEvent | DecodedInspection | PoisonRecord;

const KNOWN_TYPES = new Set<string>(EVENT_TYPES);

export function decodeRecord(record: ConsumedRecord, maxBytes: number): Decoded {
  const offset = BigInt(record.offset);
  const poison = (reason: PoisonReason, detail: string): PoisonRecord => ({
    kind: 'poison',
    offset,
    reason,
    detail,
    record,
  });
  const value = record.value;
  if (value === null || value.length === 0) return poison('empty', 'record has no value');
  if (value.length > maxBytes) {
    return poison('too_large', `record value is ${value.length} bytes; the limit is ${maxBytes}`);
  }
  const parsed = decodeEventRecord(value);
  if (!parsed.ok) {
    const detail = parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
    if (parsed.issues.some((i) => i.message.startsWith('not JSON')))
      return poison('not_json', detail);
    return poison(hasUnknownType(value) ? 'unknown_type' : 'invalid_event', detail);
  }
  if (parsed.value.type === 'inspection.completed') {
    const { source, id, data } = parsed.value;
    const time = Date.parse(parsed.value.time);
    return {
      kind: 'inspection',
      offset,
      source,
      eventId: id,
      inspectionId: data.inspectionId,
      site: data.site,
      reportRef: data.reportRef ?? null,
      time,
      completedAt: effectiveTime(time, acceptedAt(record, time)),
    };
  }
  const sent = toDomainEvent(parsed.value);
  const at = acceptedAt(record, sent.at);
  const event = { ...sent, at: effectiveTime(sent.at, at) } as IncidentEvent;
  return {
    kind: 'event',
    offset,
    event,
    time: sent.at,
    acceptedAt: at,
    digest: eventDigest(parsed.value),
    data: parsed.value.data,
  };
}

/**
 * When the service accepted the record (SPEC §3 "Effective time"): the ingest's
 * `sla-accepted-at` header (epoch ms, decimal). Records without it (written before the header
 * existed, or by another producer) fall back to the Kafka record timestamp, the producer's send
 * time (at or just after acceptance, and stored in the log: a replay reads the same value); a
 * record without a usable timestamp either takes effect at its own `time`. Every fallback is read
 * from the record itself, so a rebuild gives the same tables.
 */
export function acceptedAt(record: ConsumedRecord, time: number): number {
  const header = record.headers[ACCEPTED_AT_HEADER];
  if (header !== undefined && /^\d{1,15}$/.test(header)) return Number(header);
  const ts = record.timestamp;
  return Number.isFinite(ts) && ts > 0 ? ts : time;
}

/** Only called for JSON that failed validation: is the reason an unknown `type`? */
function hasUnknownType(value: Buffer): boolean {
  try {
    const json = JSON.parse(value.toString('utf8')) as unknown;
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return false;
    const type = (json as { type?: unknown }).type;
    return typeof type === 'string' && !KNOWN_TYPES.has(type);
  } catch {
    return false;
  }
}
