/**
 * Table `applied_events` (migrations 0001, 0011): which (source, id) the projector applied, with
 * the sha256 digest of its content, so a redelivery is a duplicate and a reused id with other
 * content a conflict. Written and read by the projector only.
 */
import type { Statement } from './sql';

export interface AppliedRow {
  source: string;
  eventId: string;
  incidentId: string;
  digest: string;
}

/** RETURNING one row per new id: fewer than given means another writer got there first. */
export function appliedInsert(rows: AppliedRow[]): Statement {
  return {
    // The digest is sha256 hex (eventDigest), stored as its 32 bytes (migrations/0011).
    text: `INSERT INTO applied_events (source, event_id, incident_id, digest)
       SELECT u.s, u.e, u.i, decode(u.d, 'hex')
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(s, e, i, d)
       ON CONFLICT DO NOTHING
       RETURNING 1`,
    values: [
      rows.map((r) => r.source),
      rows.map((r) => r.eventId),
      rows.map((r) => r.incidentId),
      rows.map((r) => r.digest),
    ],
  };
}

/** A JSON array of the digests of the pairs (`$2::text[]` sources, `$3::text[]` ids) applied. */
export const DIGESTS_OF_EVENTS = `(SELECT coalesce(json_agg(json_build_array(
    a.source, a.event_id, encode(a.digest, 'hex'))), '[]')
  FROM applied_events a
  JOIN unnest($2::text[], $3::text[]) AS k(source, event_id)
    ON a.source = k.source AND a.event_id = k.event_id)`;

export type DigestTuple = [string, string, string];

/** Digest hex by `${source}\0${id}` (eventKey). */
export function digestsByKey(tuples: DigestTuple[]): Map<string, string> {
  return new Map(tuples.map(([source, id, digest]) => [`${source}\u0000${id}`, digest]));
}
