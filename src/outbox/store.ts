/**
 * The outbox tables' SQL (migrations/0011): `outbox` (insert-only, the record of every SLA event),
 * `outbox_unsent` (the queue the relay empties) and `outbox_sent` (when each row was published).
 */
import type { PoolClient } from '../infra/db';

/**
 * A row of the `outbox` table: an SLA event (`OutboxRow`, src/contracts/sla-events.ts) or the
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
    text: outboxInsertSql('$1'),
    values: [JSON.stringify(rows)],
  });
  return result.rowCount ?? 0;
}

/**
 * insertOutboxRows' statement over the OutboxRow[] JSON in parameter `param`, keeping the rows
 * `where` admits (a condition on `r`, the row's jsonb), for a statement that writes the outbox
 * among other things (src/scheduler/fire.ts).
 */
export function outboxInsertSql(param: string, where = 'true'): string {
  return `INSERT INTO outbox (id, topic, message_key, type, payload)
          SELECT r->>'id', r->>'topic', r->>'messageKey', r->>'type', r->'payload'
          FROM jsonb_array_elements(${param}::jsonb) WITH ORDINALITY AS x(r, n)
          WHERE ${where}
          ORDER BY n
          ON CONFLICT (id) DO NOTHING`;
}

export interface UnsentRow {
  id: string;
  topic: string;
  message_key: string;
  type: string;
  /** jsonb as text: published as is, never re-serialised. */
  payload: string;
}

/**
 * Claims up to `limit` unsent rows, oldest first ((created_at, seq)), locking their queue rows
 * until the caller's transaction ends (FOR UPDATE SKIP LOCKED: rows another transaction holds are
 * skipped, never waited for). Rows whose message key is in `skipKeys`, or whose topic is in
 * `skipTopics`, are left for a later claim.
 */
export async function claimUnsent(
  client: PoolClient,
  limit: number,
  skipKeys: readonly string[],
  skipTopics: readonly string[] = [],
): Promise<UnsentRow[]> {
  const { rows } = await client.query<UnsentRow>({
    name: 'sla_outbox_claim',
    text: CLAIM_UNSENT_SQL,
    values: [limit, skipKeys, skipTopics],
  });
  return rows;
}

/**
 * claimUnsent's statement ($1 limit, $2 message keys and $3 topics to skip); prepared, so its plan
 * is generic.
 */
export const CLAIM_UNSENT_SQL = `SELECT o.id, o.topic, o.message_key, o.type, o.payload::text AS payload
  FROM outbox_unsent u JOIN outbox o ON o.id = u.id
  WHERE o.message_key <> ALL ($2::text[]) AND o.topic <> ALL ($3::text[])
  ORDER BY u.created_at, u.seq
  LIMIT $1
  FOR UPDATE OF u SKIP LOCKED`;

/**
 * Marks rows published: their queue rows are deleted and `outbox_sent` records the time
 * (clock_timestamp(): the acknowledgement, not the transaction start). Returns each row's
 * publish delay in seconds (now − created_at), for the relay's histogram.
 */
export async function markSent(client: PoolClient, ids: readonly string[]): Promise<number[]> {
  if (ids.length === 0) return [];
  const { rows } = await client.query<{ delay: string }>({
    name: 'sla_outbox_sent',
    text: MARK_SENT_SQL,
    values: [ids],
  });
  return rows.map((r) => Number(r.delay));
}

/** markSent's statement ($1 outbox ids); prepared, so its plan is generic. */
export const MARK_SENT_SQL = `WITH done AS (
    DELETE FROM outbox_unsent WHERE id = ANY($1::text[])
    RETURNING id, created_at
  ), sent AS (
    INSERT INTO outbox_sent (id, sent_at)
    SELECT id, clock_timestamp() FROM done
    ON CONFLICT (id) DO NOTHING
  )
  SELECT extract(epoch FROM clock_timestamp() - created_at) AS delay FROM done`;

/** Counts a failed publish attempt on the rows and keeps the error's text (first 500 characters). */
export async function recordFailedAttempt(
  client: PoolClient,
  ids: readonly string[],
  error: string,
): Promise<void> {
  await client.query(
    `UPDATE outbox_unsent SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::text[])`,
    [ids, error.slice(0, 500)],
  );
}
