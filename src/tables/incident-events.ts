/**
 * Table `incident_events` (migrations 0001, 0008, 0017): the timeline, every lifecycle event the
 * projector applied, as sent (its own `time`) and when the service accepted it, with the sha256
 * digest of its content. Its primary key (source, event_id) is the projector's idempotency guard:
 * a (source, id) is applied once; again with the same digest it is a duplicate, with another a
 * conflict (reported, not applied). Written by the projector; read back by it (an incident's
 * earlier events, the digests of a batch's ids) and by the read API's timeline.
 */
import { effectiveTime, type IncidentEvent } from '../domain';
import { epochMs, iso, type Statement } from './sql';

export interface TimelineRow {
  incidentId: string;
  source: string;
  eventId: string;
  type: string;
  /** The event's own `time` (kept as sent; the SLA uses the effective time). */
  time: number;
  /** When the service accepted it (SPEC §3 "Effective time"). */
  acceptedAt: number;
  data: Record<string, unknown>;
  partition: number;
  offset: bigint;
  /** sha256 hex of the event's content (src/contracts/events.ts eventDigest). */
  digest: string;
}

/**
 * Inserts the rows; RETURNING one row per new (source, id): fewer than given means another
 * transaction applied one of them first (the caller rolls back and retries).
 */
export function timelineInsert(rows: TimelineRow[]): Statement {
  return {
    // The digest travels as hex and is stored as its 32 bytes (migrations/0011, 0017).
    text: `INSERT INTO incident_events
         (incident_id, source, event_id, type, time, data, kafka_partition, kafka_offset,
          accepted_at, digest)
       SELECT u.i, u.s, u.e, u.t, u.tm, u.d, u.p, u.o, u.a, decode(u.h, 'hex')
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[],
                   $6::jsonb[], $7::int[], $8::bigint[], $9::timestamptz[], $10::text[])
         AS u(i, s, e, t, tm, d, p, o, a, h)
       ON CONFLICT DO NOTHING
       RETURNING 1`,
    values: [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.type),
      rows.map((r) => iso(r.time)),
      rows.map((r) => JSON.stringify(r.data)),
      rows.map((r) => r.partition),
      rows.map((r) => r.offset.toString()),
      rows.map((r) => iso(r.acceptedAt)),
      rows.map((r) => r.digest),
    ],
  };
}

/** A JSON array of the digests of the pairs (`$2::text[]` sources, `$3::text[]` ids) applied. */
export const DIGESTS_OF_EVENTS = `(SELECT coalesce(json_agg(json_build_array(
    a.source, a.event_id, encode(a.digest, 'hex'))), '[]')
  FROM incident_events a
  JOIN unnest($2::text[], $3::text[]) AS k(source, event_id)
    ON a.source = k.source AND a.event_id = k.event_id)`;

export type DigestTuple = [string, string, string];

/** Digest hex by `${source}\0${id}` (eventKey). */
export function digestsByKey(tuples: DigestTuple[]): Map<string, string> {
  return new Map(tuples.map(([source, id, digest]) => [`${source}\u0000${id}`, digest]));
}

/** A JSON array of the events of the incidents `$1::text[]`, as EventTuple. */
export const EVENTS_OF_INCIDENTS = `(SELECT coalesce(json_agg(json_build_array(
    e.incident_id, e.source, e.event_id, e.type, ${epochMs('e.time')}, e.data,
    ${epochMs('e.accepted_at')})), '[]')
  FROM incident_events e WHERE e.incident_id = ANY($1::text[]))`;

export type EventTuple = [
  string,
  string,
  string,
  string,
  number,
  Record<string, unknown>,
  number | null,
];

/** Events per incident, timed as the SLA takes them (the effective time, SPEC §3). */
export function eventsByIncident(tuples: EventTuple[]): Map<string, IncidentEvent[]> {
  const events = new Map<string, IncidentEvent[]>();
  for (const [incidentId, source, id, type, time, data, acceptedAt] of tuples) {
    // Written by the projector from validated events only.
    const at = effectiveTime(time, acceptedAt);
    const event = { id, source, type, incidentId, at, data } as IncidentEvent;
    const list = events.get(incidentId);
    if (list) list.push(event);
    else events.set(incidentId, [event]);
  }
  return events;
}

export interface TimelineEntryRow {
  kind: 'lifecycle' | 'sla';
  at: Date;
  type: string;
  id: string;
  source: string | null;
  data: Record<string, unknown> | null;
  recorded_at: Date;
  topic: string | null;
  sent_at: Date | null;
}

/**
 * GET /v1/incidents/{id}/timeline: the incident's lifecycle events (by event time) and the SLA
 * events about it from the outbox (by emission time), merged in time order, the first `limit`.
 */
export function timelineOf(incidentId: string, limit: number): Statement {
  return {
    text: `SELECT * FROM (
         SELECT 'lifecycle' AS kind, e.time AS at, e.type, e.event_id AS id, e.source, e.data,
                e.recorded_at, NULL::text AS topic, NULL::timestamptz AS sent_at
         FROM incident_events e WHERE e.incident_id = $1
         UNION ALL
         SELECT 'sla', o.created_at, o.type, o.id, o.payload->>'source', o.payload->'data',
                o.created_at, o.topic, s.sent_at
         FROM outbox o LEFT JOIN outbox_sent s ON s.id = o.id
         -- Inspection events are keyed by site (migrations/0014): never an incident's.
         WHERE o.message_key = $1 AND NOT (o.payload->'data' ? 'obligation')
       ) t
       ORDER BY at, recorded_at, kind, id
       LIMIT $2`,
    values: [incidentId, limit],
  };
}
