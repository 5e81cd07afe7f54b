/**
 * A row of the `outbox` table: an SLA event (`OutboxRow` of src/contracts/sla-events.ts) or the
 * other event the service emits, `report.monthly_issued` (src/application/report-issue.ts).
 */
export interface OutboxRecord {
  id: string;
  topic: string;
  /** The Kafka key. */
  messageKey: string;
  type: string;
  /** The whole CloudEvent, published as the record value. */
  payload: unknown;
}

/** The part of a pg client (or pool) the outbox writer needs. */
export interface Queryable {
  query(config: {
    name?: string;
    text: string;
    values?: unknown[];
  }): Promise<{ rowCount: number | null }>;
}

/**
 * Inserts outbox rows inside the caller's transaction (the one making the state change that
 * caused them). Ids are deterministic, so inserting the same logical event twice (a rebuild, a
 * retried batch) is a no-op: ON CONFLICT (id) DO NOTHING. Returns how many rows were new.
 * One statement and one JSON parameter for the whole batch: a burst of fires costs one round trip,
 * and no Postgres array literal has to escape every quote of every payload. Rows keep their order
 * (WITH ORDINALITY), so `seq` follows it.
 */
export async function insertOutboxRows(
  client: Queryable,
  rows: readonly OutboxRecord[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const result = await client.query({
    // Named: prepared once per connection (planning dominated this statement's cost).
    name: 'sla_outbox_insert',
    text: `INSERT INTO outbox (id, topic, message_key, type, payload)
           SELECT r->>'id', r->>'topic', r->>'messageKey', r->>'type', r->'payload'
           FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(r, n)
           ORDER BY n
           ON CONFLICT (id) DO NOTHING`,
    values: [JSON.stringify(rows)],
  });
  return result.rowCount ?? 0;
}
