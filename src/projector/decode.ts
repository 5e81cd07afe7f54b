import { EVENT_TYPES, decodeEventRecord, eventDigest, toDomainEvent } from '../contracts/events';
import type { IncidentEvent } from '../domain';
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
  event: IncidentEvent;
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

export type Decoded = DecodedEvent | PoisonRecord;

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
  const event = toDomainEvent(parsed.value);
  return {
    kind: 'event',
    offset,
    event,
    digest: eventDigest(parsed.value),
    data: parsed.value.data,
  };
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
