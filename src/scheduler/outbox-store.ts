import type { OutboxRow } from '../contracts/sla-events';

/** The part of a pg client (or pool) the outbox writer needs. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rowCount: number | null }>;
}

/**
 * Inserts outbox rows inside the caller's transaction (the one making the state change that
 * caused them). Ids are deterministic, so inserting the same logical event twice (a rebuild, a
 * retried batch) is a no-op: ON CONFLICT (id) DO NOTHING. Returns how many rows were new.
 * One statement for the whole batch (unnest), so a burst of fires costs one round trip.
 */
export async function insertOutboxRows(
  client: Queryable,
  rows: readonly OutboxRow[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await client.query(
    `INSERT INTO outbox (id, topic, message_key, type, payload)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[])
     ON CONFLICT (id) DO NOTHING`,
    [
      rows.map((r) => r.id),
      rows.map((r) => r.topic),
      rows.map((r) => r.messageKey),
      rows.map((r) => r.type),
      rows.map((r) => JSON.stringify(r.payload)),
    ],
  );
  return result.rowCount ?? 0;
}
