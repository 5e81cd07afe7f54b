/**
 * Reads the live-update feed (`stream_events`, filled by the triggers of migrations/0005_read_api.sql to 0007_read_api_triggers.sql).
 *
 * Position in the feed is a cursor (tx, id): the writing transaction's id and the row id. A read
 * returns only rows whose transaction is older than every transaction of this database still
 * running (the horizon below), so no row can later appear before a cursor already handed out:
 * reading in cursor order never skips anything (unlike "id > last seen", which misses late commits).
 */
import type { Pool } from '../infra/db';

/**
 * The feed horizon as of the statement's snapshot (xid8): the oldest transaction in progress that
 * may belong to this database, or the snapshot's xmax when there is none. Transaction ids are
 * cluster-wide, so `pg_snapshot_xmin` alone would also wait for a long transaction in any other
 * database of a shared cluster; an in-progress id that pg_stat_activity places in another database
 * cannot have written `stream_events` and is skipped. One it cannot place (finished since the
 * snapshot, prepared, or hidden by privileges) counts as ours: the feed then waits, never skips.
 */
const FEED_HORIZON = `(
  WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s)
  SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip((SELECT s FROM snap)) AS x
     WHERE NOT EXISTS (
       SELECT 1 FROM pg_stat_activity a
       WHERE a.backend_xid = xid(x)
         AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
    pg_snapshot_xmax((SELECT s FROM snap))))`;

export interface FeedCursor {
  /** xid8 as a decimal string. */
  tx: string;
  /** bigint as a decimal string. */
  id: string;
}

export const FEED_START: FeedCursor = { tx: '0', id: '0' };

export type FeedKind = 'incident' | 'milestone' | 'sla';

export interface FeedRow {
  cursor: FeedCursor;
  kind: FeedKind;
  incidentId: string;
  severity: string | null;
  site: string | null;
  payload: Record<string, unknown>;
}

export interface FeedFilter {
  severity?: readonly string[];
  site?: string;
}

export interface FeedPage {
  rows: FeedRow[];
  /**
   * Where the next read may start: after the last row, or, when the page was not full, after the
   * last row *anyone* may read now (the rows in between did not match the filter). Advancing past
   * non-matching rows keeps a narrow filter from rescanning them on every wake-up.
   */
  next: FeedCursor;
}

/** `<tx>-<id>`: the SSE event id. */
export function formatCursor(c: FeedCursor): string {
  return `${c.tx}-${c.id}`;
}

const INT8_MAX = 9_223_372_036_854_775_807n;

export function parseCursor(text: string | undefined): FeedCursor | null {
  const m = /^(\d{1,20})-(\d{1,19})$/.exec(text?.trim() ?? '');
  // Both are Postgres int8 (xid8 is unsigned, but no transaction id comes near 2^63): beyond, a
  // cursor is not one of ours (a 500 before, found by a tester).
  if (!m || BigInt(m[1]!) > INT8_MAX || BigInt(m[2]!) > INT8_MAX) return null;
  return { tx: m[1]!, id: m[2]! };
}

export function compareCursors(a: FeedCursor, b: FeedCursor): number {
  const tx = BigInt(a.tx) - BigInt(b.tx);
  if (tx !== 0n) return tx < 0n ? -1 : 1;
  const id = BigInt(a.id) - BigInt(b.id);
  return id === 0n ? 0 : id < 0n ? -1 : 1;
}

export class StreamFeed {
  constructor(private readonly pool: Pool) {}

  /** Up to `limit` rows after `after` matching `filter`, in cursor order. */
  async read(after: FeedCursor, filter: FeedFilter, limit: number): Promise<FeedPage> {
    const params: unknown[] = [after.tx, after.id, limit];
    const where: string[] = [];
    if (filter.severity) {
      params.push(filter.severity);
      where.push(`AND s.severity = ANY($${params.length}::text[])`);
    }
    if (filter.site !== undefined) {
      params.push(filter.site);
      where.push(`AND s.site = $${params.length}`);
    }
    // One statement, so the page and the head share one snapshot and one xmin.
    const { rows } = await this.pool.query<{
      page: Array<{
        tx: string;
        id: string;
        kind: FeedKind;
        incident_id: string;
        severity: string | null;
        site: string | null;
        payload: Record<string, unknown>;
      }> | null;
      head_tx: string | null;
      head_id: string | null;
    }>(
      `WITH b AS MATERIALIZED (SELECT ${FEED_HORIZON} AS xmin),
       page AS (
         SELECT s.tx::text AS tx, s.id::text AS id, s.kind, s.incident_id, s.severity, s.site,
                s.payload
         FROM stream_events s
         WHERE (s.tx, s.id) > ($1::xid8, $2::bigint) AND s.tx < (SELECT xmin FROM b)
           ${where.join(' ')}
         ORDER BY s.tx, s.id
         LIMIT $3
       ),
       head AS (
         SELECT s.tx::text AS tx, s.id::text AS id FROM stream_events s
         WHERE s.tx < (SELECT xmin FROM b)
         ORDER BY s.tx DESC, s.id DESC
         LIMIT 1
       )
       SELECT (SELECT json_agg(page ORDER BY page.tx::xid8, page.id::bigint) FROM page) AS page,
              (SELECT tx FROM head) AS head_tx, (SELECT id FROM head) AS head_id`,
      params,
    );
    const r = rows[0];
    const page = (r?.page ?? []).map((p): FeedRow => ({
      cursor: { tx: p.tx, id: p.id },
      kind: p.kind,
      incidentId: p.incident_id,
      severity: p.severity,
      site: p.site,
      payload: p.payload,
    }));
    const last = page.at(-1)?.cursor ?? after;
    const head = r?.head_tx && r.head_id ? { tx: r.head_tx, id: r.head_id } : null;
    const next =
      page.length < limit && head !== null && compareCursors(head, last) > 0 ? head : last;
    return { rows: page, next };
  }

  /** The cursor after every row readable now: where a client without Last-Event-ID starts. */
  async head(): Promise<FeedCursor> {
    const { rows } = await this.pool.query<{ tx: string; id: string }>(
      `SELECT s.tx::text AS tx, s.id::text AS id FROM stream_events s
       WHERE s.tx < ${FEED_HORIZON}
       ORDER BY s.tx DESC, s.id DESC
       LIMIT 1`,
    );
    return rows[0] ?? FEED_START;
  }

  /** Whether the row a client last saw is still kept (false: trimmed, or not from this feed). */
  async has(c: FeedCursor): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM stream_events WHERE tx = $1::xid8 AND id = $2::bigint',
      [c.tx, c.id],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Deletes rows written before `before`, in bounded batches (no long lock, no huge WAL burst). */
  async trim(before: Date, batch = 10_000): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(
        `DELETE FROM stream_events WHERE ctid IN (
           SELECT ctid FROM stream_events WHERE at < $1 LIMIT $2)`,
        [before, batch],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < batch) return total;
    }
  }
}
