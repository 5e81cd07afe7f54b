/**
 * Table `escalations` (migrations 0001, 0004): one row per tier an incident reached, automatic
 * (written by the scheduler, src/scheduler) or manual (forwarded by the projector). Read by the
 * projector (the tier reached, the paging record) and by the read API (the incident detail).
 */
import type { PagingRecord } from '../domain';
import type { PoolClient } from '../infra/db';
import { epochMs, type Statement } from './sql';

/** A manual escalation the projector forwards. */
export interface EscalationRow {
  incidentId: string;
  toTier: number;
  fromTier: number;
  reason: string;
  eventId: string;
}

/** Inserts escalation rows; returns the `${incidentId}/${toTier}` of those that were new. */
export async function insertEscalations(
  client: PoolClient,
  rows: EscalationRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const { rows: inserted } = await client.query<{ incident_id: string; to_tier: number }>(
    `INSERT INTO escalations (incident_id, to_tier, from_tier, automatic, reason, milestone, event_id)
     SELECT u.i, u.t, u.f, false, u.r, NULL, u.e
     FROM unnest($1::text[], $2::smallint[], $3::smallint[], $4::text[], $5::text[])
          AS u(i, t, f, r, e)
     ON CONFLICT (incident_id, to_tier) DO NOTHING
     RETURNING incident_id, to_tier`,
    [
      rows.map((r) => r.incidentId),
      rows.map((r) => r.toTier),
      rows.map((r) => r.fromTier),
      rows.map((r) => r.reason),
      rows.map((r) => r.eventId),
    ],
  );
  return new Set(inserted.map((r) => `${r.incident_id}/${r.to_tier}`));
}

/**
 * A JSON array, per incident of `$1::text[]` with escalations, of the highest tier reached, the
 * latest automatic escalation and the latest `sla.stand_down` in the outbox, as EscalatedTuple.
 */
export const ESCALATED_OF_INCIDENTS = `(SELECT coalesce(json_agg(json_build_array(
    x.incident_id, x.tier, x.auto_at, x.stood_down_at)), '[]') FROM (
    SELECT e.incident_id, max(e.to_tier) AS tier,
           ${epochMs('max(e.escalated_at) FILTER (WHERE e.automatic)')} AS auto_at,
           (SELECT ${epochMs('max(o.created_at)')} FROM outbox o
            WHERE o.message_key = e.incident_id AND o.type = 'sla.stand_down') AS stood_down_at
    FROM escalations e
    WHERE e.incident_id = ANY($1::text[]) GROUP BY e.incident_id) x)`;

export type EscalatedTuple = [string, number, number | null, number | null];

export function escalatedTiers(tuples: EscalatedTuple[]): Map<string, number> {
  return new Map(tuples.map(([id, tier]) => [id, tier]));
}

export function pagingRecords(tuples: EscalatedTuple[]): Map<string, PagingRecord> {
  return new Map(
    tuples.map(([id, , lastAutomaticAt, lastStandDownAt]) => [
      id,
      { lastAutomaticAt, lastStandDownAt },
    ]),
  );
}

export interface EscalationRecord {
  from_tier: number;
  to_tier: number;
  automatic: boolean;
  reason: string;
  milestone: string | null;
  escalated_at: Date;
}

/** An incident's escalations, lowest tier first (GET /v1/incidents/{id}). */
export function escalationsOfIncident(incidentId: string): Statement {
  return {
    text: `SELECT from_tier, to_tier, automatic, reason, milestone, escalated_at
       FROM escalations WHERE incident_id = $1 ORDER BY to_tier`,
    values: [incidentId],
  };
}
